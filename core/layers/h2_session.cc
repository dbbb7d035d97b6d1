#include "core/layers/h2_session.h"

#include <charconv>

namespace sightglass::core {

void take_response_header(std::string_view name, std::string_view value, bool in_trailers,
                          int* status, Headers* headers, Headers* trailers) {
  if (in_trailers) {
    trailers->push_back({std::string(name), std::string(value)});
  } else if (name == ":status") {
    int parsed = 0;
    std::from_chars(value.data(), value.data() + value.size(), parsed);
    *status = parsed;
  } else if (!name.starts_with(":")) {
    if (headers->empty()) {
      headers->reserve(kHeadersReserved);
    }
    headers->push_back({std::string(name), std::string(value)});
  }
}

void add_nv(std::vector<nghttp2_nv>* nv, std::string_view name, std::string_view value) {
  nv->push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                           reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                           value.size(), NGHTTP2_NV_FLAG_NONE});
}

void add_nv(std::vector<nghttp2_nv>* nv, const Headers& fields) {
  for (const Header& h : fields) {
    add_nv(nv, h.name, h.value);
  }
}

std::vector<nghttp2_nv> h2_nv(const Headers& fields) {
  std::vector<nghttp2_nv> nv;
  nv.reserve(fields.size());
  add_nv(&nv, fields);
  return nv;
}

bool is_connection_specific(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade";
}

Headers h1_to_h2_headers(const Headers& headers) {
  Headers out;
  for (const Header& h : headers) {
    if (std::string name = ascii_lower(h.name); !is_connection_specific(name)) {
      out.push_back({std::move(name), h.value});
    }
  }
  return out;
}

}  // namespace sightglass::core
