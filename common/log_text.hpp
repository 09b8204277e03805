// log_text.hpp: how a network address and the bytes a client sent read in a log line. The async echo
// server (networking/tcp_echo_server and networking/tcp_server_in_production) uses it.
//
//   endpoint_text(endpoint)     127.0.0.1:8888, or [::1]:8888 for IPv6 (the brackets keep the port apart).
//   printable_line(bytes, 60)   the bytes with control bytes made visible (\n, \r, \t, \x00) and only
//                               the first 60 shown, then "... (N bytes)": a 64 KiB line would drown the
//                               terminal, and a raw '\r' or escape byte would rewrite it.
#pragma once

#include <fmt/format.h>
#include <asio.hpp>

#include <cstddef>
#include <string>
#include <string_view>

inline std::string endpoint_text(const asio::ip::tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                         : fmt::format("{}:{}", address.to_string(), endpoint.port());
}

inline std::string printable_line(std::string_view bytes, std::size_t limit = 60) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\\')
      out += "\\\\";
    else if (c < 0x20 || c >= 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  if (bytes.size() > limit) out += fmt::format("... ({} bytes)", bytes.size());
  return out;
}
