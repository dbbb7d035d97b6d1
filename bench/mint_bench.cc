// Leaf minting: cold mints (a new name each time, one CA signature each), cache hits, and the
// raw ECDSA P-256 signature that is the floor of a cold mint.
#include <benchmark/benchmark.h>
#include <openssl/digest.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "ca/ca_store.h"
#include "ca/leaf_minter.h"

namespace {

using sightglass::ca::CertificateAuthority;
using sightglass::ca::KeyType;
using sightglass::ca::LeafMinter;
using sightglass::ca::LeafMinterOptions;

// Fixture state: one CA in a temporary confdir, shared by all benchmarks.
struct State {
  std::filesystem::path dir;
  std::shared_ptr<CertificateAuthority> ca;

  State() {
    std::string pattern = "/tmp/sightglass-bench-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) {
      std::abort();
    }
    dir = buf.data();
    std::string error;
    ca = CertificateAuthority::load_or_create(dir, &error);
    if (!ca) {
      std::abort();
    }
  }
  ~State() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

State& state() {
  static State s;
  return s;
}

void BM_MintCold(benchmark::State& bench) {
  std::string error;
  LeafMinterOptions options;
  auto minter = LeafMinter::create(state().ca, options, &error);
  uint64_t i = 0;
  for (auto _ : bench) {
    const std::array<std::string, 1> names = {"host" + std::to_string(i++) + ".example.com"};
    auto leaf = minter->leaf_for(names, KeyType::kEcdsaP256, &error);
    benchmark::DoNotOptimize(leaf);
  }
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_MintCold)->UseRealTime();

void BM_CacheHit(benchmark::State& bench) {
  std::string error;
  auto minter = LeafMinter::create(state().ca, LeafMinterOptions{}, &error);
  const std::array<std::string, 1> names = {"cached.example.com"};
  minter->leaf_for(names, KeyType::kEcdsaP256, &error);
  for (auto _ : bench) {
    auto leaf = minter->leaf_for(names, KeyType::kEcdsaP256, &error);
    benchmark::DoNotOptimize(leaf);
  }
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_CacheHit)->UseRealTime();

// The floor: one ECDSA P-256 signature over a SHA-256 digest with the CA key.
void BM_EcdsaP256SignRaw(benchmark::State& bench) {
  EC_KEY* key = EVP_PKEY_get0_EC_KEY(state().ca->key());
  std::array<uint8_t, SHA256_DIGEST_LENGTH> digest{};
  std::vector<uint8_t> sig(ECDSA_size(key));
  for (auto _ : bench) {
    unsigned sig_len = 0;
    ECDSA_sign(0, digest.data(), digest.size(), sig.data(), &sig_len, key);
    benchmark::DoNotOptimize(sig_len);
  }
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_EcdsaP256SignRaw)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
