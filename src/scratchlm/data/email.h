// email.h — a raw e-mail message (RFC 822/2045, as in the SpamAssassin corpus) -> the text a spam
// classifier reads: its subject and its readable body (chapter 6.2's data preparation, applied to
// e-mail instead of SMS).
//
// email_to_text(raw) = "Subject: <subject>\n\n<body text>", or "Subject: <subject>" when the body
// has no text. The result is UTF-8: every text part is converted from its declared charset
// (Content-Type charset, else an HTML part's <meta> charset; encoded-words from their own charset)
// by to_utf8 (charset.h), so undeclared text that is not UTF-8 is read as windows-1252.
//   Headers: all dropped except Subject (also the mbox "From " line). Folded lines are unfolded.
//     RFC 2047 encoded-words (=?charset?B?...?= and =?charset?Q?...?=) are decoded and converted;
//     whitespace between two adjacent encoded-words is dropped.
//   Body: decoded per Content-Transfer-Encoding (quoted-printable, base64; anything else as is).
//     text/plain is taken as is, text/html is turned into text (html_to_text). multipart/* is
//     walked recursively (boundary from Content-Type): multipart/alternative gives its first
//     text/plain part with text, else its first part with text; other multiparts join the text of
//     all their parts with a blank line. message/rfc822 parts give their body. Attachments
//     (Content-Disposition: attachment) and non-text parts are skipped. Other text/* types are
//     read as plain text. A message without Content-Type is text/plain. CRLF becomes LF.
//   Malformed input degrades instead of failing: a multipart without boundary or without any
//   boundary line is read as plain text, a missing closing boundary ends the last part at the end
//   of the message, bad base64 characters are skipped, a stray '=' in quoted-printable is literal.
#pragma once

#include <string>
#include <string_view>

namespace slm {

std::string email_to_text(std::string_view raw_message);

// The building blocks, exposed for tests.
// Quoted-printable: "=XX" -> byte 0xXX (either case), "=" + optional blanks + line end -> nothing
// (soft line break), "=" at the very end -> nothing, any other "=" -> literal.
std::string decode_quoted_printable(std::string_view s);
// Base64, lenient: characters outside the alphabet are skipped; '=' ends a quantum (leftover bits
// dropped), so concatenated padded chunks decode too.
std::string decode_base64(std::string_view s);
// A header value with its RFC 2047 encoded-words decoded (B or Q; '_' is a space in Q) and converted
// from their charsets to UTF-8; the text between them is undeclared (UTF-8, else windows-1252).
std::string decode_header_words(std::string_view value);
// HTML -> text: tags removed (block tags such as <p>, <br>, <div>, <tr>, <li> become line breaks,
// <td>/<th> a space), <script>/<style> contents and comments dropped, entities decoded (&amp; &lt;
// &gt; &quot; &apos; &nbsp; and a few other common names, &#NNN; &#xHH;), runs of whitespace
// collapsed to one space, lines trimmed, runs of blank lines collapsed to one.
std::string html_to_text(std::string_view html);

}  // namespace slm
