// Runs the real `sightglass` binary.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/sightglass_binary.h"
#include "tests/support/temp_dir.h"

namespace sightglass {
namespace {

namespace fs = std::filesystem;
using test::ChildProcess;
using test::ProcessResult;
using test::read_file_bytes;
using test::run_process;
using test::TempDir;
using test::write_file_bytes;

ProcessResult sightglass(std::vector<std::string> args, const std::string& input = "") {
  return test::run_sightglass(std::move(args), input);
}

TEST(Cli, HelpAndVersion) {
  const auto help = sightglass({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--listen-port"), std::string::npos);
  EXPECT_NE(help.out.find("sightglass ca export [--der]"), std::string::npos);
  const auto version = sightglass({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("sightglass ", 0), 0u) << version.out;
}

TEST(Cli, UsageErrorsExit2AndNameTheOption) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--no-such-option"}, "--no-such-option"},
      {{"--listen-port", "eighty"}, "--listen-port"},
      {{"--mode", "bogus"}, "--mode"},
      {{"ca"}, "ca"},
      {{"ca", "frobnicate"}, "frobnicate"},
      {{"ca", "export", "--pem"}, "--pem"},
      {{"ca", "path", "--der"}, "--der"},
  };
  for (const auto& [args, needle] : cases) {
    const auto result = sightglass(args);
    EXPECT_EQ(result.exit_code, 2) << args[0];
    EXPECT_NE(result.err.find(needle), std::string::npos) << result.err;
    EXPECT_TRUE(result.out.empty());
  }
}

TEST(Cli, CaExportParsesWithOpensslAsPemAndDer) {
  TempDir tmp;
  const std::string confdir = (tmp.path() / "conf").string();
  const auto pem = sightglass({"ca", "export", "--confdir", confdir});
  ASSERT_EQ(pem.exit_code, 0) << pem.err;
  EXPECT_EQ(pem.out.rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
  const auto text = run_process({"openssl", "x509", "-noout", "-text"}, pem.out);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("Subject: O = Sightglass, CN = Sightglass CA"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("CA:TRUE, pathlen:0"), std::string::npos);
  EXPECT_NE(text.out.find("Certificate Sign, CRL Sign"), std::string::npos);

  const auto der = sightglass({"ca", "export", "--der", "--confdir=" + confdir});
  ASSERT_EQ(der.exit_code, 0) << der.err;
  EXPECT_EQ(static_cast<unsigned char>(der.out[0]), 0x30);  // A DER SEQUENCE.
  const auto from_der =
      run_process({"openssl", "x509", "-inform", "DER", "-outform", "PEM"}, der.out);
  ASSERT_EQ(from_der.exit_code, 0) << from_der.err;
  EXPECT_EQ(from_der.out, pem.out);
  EXPECT_EQ(read_file_bytes(fs::path(confdir) / "sightglass-ca.pem"), pem.out);
}

TEST(Cli, CaPathPrintsTheCertificatePathAndHonoursTheEnvironment) {
  TempDir tmp;
  const fs::path confdir = tmp.path() / "from-env";
  setenv("SIGHTGLASS_CONFDIR", confdir.c_str(), 1);
  const auto result = sightglass({"ca", "path"});
  unsetenv("SIGHTGLASS_CONFDIR");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, (confdir / "sightglass-ca.pem").string() + "\n");
  EXPECT_TRUE(fs::exists(confdir / "sightglass-ca.pem"));
  struct stat st {};
  ASSERT_EQ(stat((confdir / "sightglass-ca-key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Cli, ConcurrentFirstStartsEndWithOneCa) {
  TempDir tmp;
  const std::string confdir = (tmp.path() / "conf").string();
  std::vector<std::unique_ptr<ChildProcess>> children;
  for (int i = 0; i < 6; ++i) {
    children.push_back(std::make_unique<ChildProcess>(
        std::vector<std::string>{SIGHTGLASS_BINARY, "ca", "export", "--confdir", confdir}));
  }
  std::vector<std::string> outputs;
  for (auto& child : children) {
    const auto result = child->wait();
    EXPECT_EQ(result.exit_code, 0) << result.err;
    outputs.push_back(result.out);
  }
  for (const std::string& out : outputs) {
    EXPECT_FALSE(out.empty());
    EXPECT_EQ(out, outputs[0]);
  }
  EXPECT_EQ(read_file_bytes(fs::path(confdir) / "sightglass-ca.pem"), outputs[0]);
}

TEST(Cli, CorruptCaIsAOneLineErrorAndStaysByteIdentical) {
  TempDir tmp;
  const fs::path confdir = tmp.path() / "conf";
  ASSERT_EQ(sightglass({"ca", "path", "--confdir", confdir.string()}).exit_code, 0);
  const fs::path cert = confdir / "sightglass-ca.pem";
  const std::string corrupt = read_file_bytes(cert).substr(0, 100);
  ASSERT_TRUE(write_file_bytes(cert, corrupt));
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"ca", "export", "--confdir", confdir.string()},
        std::vector<std::string>{"--confdir", confdir.string()}}) {
    const auto result = sightglass(args);
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.err.find(cert.string()), std::string::npos) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_EQ(read_file_bytes(cert), corrupt);
  }
}

// Issue 10, defect 10: a CA key readable by others is refused with the chmod that fixes it; a
// key that is not a regular file (a symlink to /dev/zero) is refused at once, never read.
TEST(Cli, CaKeyReadableByOthersOrNotARegularFileIsRefused) {
  TempDir tmp;
  const fs::path confdir = tmp.path() / "conf";
  ASSERT_EQ(sightglass({"ca", "path", "--confdir", confdir.string()}).exit_code, 0);
  const fs::path key = confdir / "sightglass-ca-key.pem";
  ASSERT_EQ(chmod(key.c_str(), 0644), 0);
  auto result = sightglass({"--confdir", confdir.string(), "-p", "0"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("chmod 600 " + key.string()), std::string::npos) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  ASSERT_EQ(chmod(key.c_str(), 0600), 0);
  const std::string pem = read_file_bytes(key);
  fs::remove(key);
  fs::create_symlink("/dev/zero", key);
  result = sightglass({"--confdir", confdir.string(), "-p", "0"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_FALSE(result.timed_out);
  EXPECT_NE(result.err.find("not a regular file"), std::string::npos) << result.err;
  // A huge regular file is not read whole either.
  fs::remove(key);
  ASSERT_TRUE(write_file_bytes(key, std::string(8 << 20, 'A')));
  ASSERT_EQ(chmod(key.c_str(), 0600), 0);
  result = sightglass({"--confdir", confdir.string(), "-p", "0"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("too large"), std::string::npos) << result.err;
  // Put right, it starts again.
  ASSERT_TRUE(write_file_bytes(key, pem));
  ASSERT_EQ(chmod(key.c_str(), 0600), 0);
  EXPECT_EQ(sightglass({"ca", "export", "--confdir", confdir.string()}).exit_code, 0);
}

}  // namespace
}  // namespace sightglass
