#pragma once

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>

#include "ca/ca_store.h"
#include "ca/leaf_minter.h"

namespace sightglass::test {

// parse_leaf returns the leaf's certificate as an X509.
inline bssl::UniquePtr<X509> parse_leaf(const ca::Leaf& leaf) {
  return bssl::UniquePtr<X509>(X509_parse_from_buffer(leaf.cert.get()));
}

// verify_leaf runs X509_verify_cert on |leaf| with |ca| as the only trust anchor, checking
// |host| (a DNS name or an IP literal) and the TLS server purpose. Returns the X509_V_* code.
inline int verify_leaf(X509* leaf, X509* ca, const std::string& host, bool host_is_ip) {
  bssl::UniquePtr<X509_STORE> store(X509_STORE_new());
  bssl::UniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (!store || !ctx || !X509_STORE_add_cert(store.get(), ca) ||
      !X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr)) {
    return -1;
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  if (host_is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, host.data(), host.size());
  }
  const int ok = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

}  // namespace sightglass::test
