// sockets.cpp — finding the server's own sockets (see sockets.h).
#include "scratchlm/serve/sockets.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <filesystem>
#include <functional>

namespace slm::serve {

namespace {

// Calls f(fd) for each descriptor of this process until it returns true; that descriptor, or -1.
int find_fd(const std::function<bool(int)>& f) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (...) {
      continue;
    }
    if (f(fd)) return fd;
  }
  return -1;
}

// The numeric host and port of a socket address; false when it has none.
bool host_port(const sockaddr_storage& a, socklen_t len, std::string* host, std::string& port) {
  char h[NI_MAXHOST], p[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, host ? h : nullptr, host ? sizeof(h) : 0, p, sizeof(p),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return false;
  if (host) *host = h;
  port = p;
  return true;
}

bool on_local_port(int fd, int local_port) {
  sockaddr_storage self{};
  socklen_t sl = sizeof(self);
  std::string port;
  return getsockname(fd, reinterpret_cast<sockaddr*>(&self), &sl) == 0 && host_port(self, sl, nullptr, port) &&
         port == std::to_string(local_port);
}

}  // namespace

int find_connection(const std::string& remote_addr, int remote_port, int local_port) {
  return find_fd([&](int fd) {
    sockaddr_storage peer{};
    socklen_t pl = sizeof(peer);
    std::string host, port;
    return getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) == 0 && host_port(peer, pl, &host, port) &&
           host == remote_addr && port == std::to_string(remote_port) && on_local_port(fd, local_port);
  });
}

bool peer_closed(int fd) {
  pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) return true;
  char c;
  return (p.revents & POLLIN) && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

void raise_listen_backlog(int local_port) {
  find_fd([&](int fd) {
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening && on_local_port(fd, local_port))
      listen(fd, SOMAXCONN);
    return false;  // every listening socket on the port
  });
}

}  // namespace slm::serve
