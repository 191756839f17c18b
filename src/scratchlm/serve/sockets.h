// sockets.h — the server's own sockets, found through /proc/self/fd: Debian 12's cpp-httplib (0.11)
// exposes neither a request's connection nor its listening socket, and `slm serve` needs both (a
// client that left frees its slot; a burst of connections is not dropped). Serving the model of
// chapter 7 to many users at once; not in the book.
#pragma once

#include <string>

namespace slm::serve {

// The connection whose peer is remote_addr:remote_port, on local_port; -1 when none.
int find_connection(const std::string& remote_addr, int remote_port, int local_port);

// Whether the peer has closed connection fd (end of stream or an error; pipelined bytes are not).
bool peer_closed(int fd);

// httplib listens with a backlog of 5: a burst of more connections than the accept thread takes at
// once had its handshakes dropped and retried by the clients a second later. Listening again on the
// same socket (the one listening on local_port) only raises the backlog to SOMAXCONN.
void raise_listen_backlog(int local_port);

}  // namespace slm::serve
