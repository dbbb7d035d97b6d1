// The magic host: http://sightglass/ served by the proxy itself, the CA certificate (PEM and
// DER) and how to trust it. Nothing goes to the network.
#include "core/layers/http_layer.h"
#include "core/layers/http_layer_internal.h"

namespace sightglass::core {
namespace {

constexpr char kMagicPage[] = R"(<!doctype html>
<html><head><meta charset="utf-8"><title>Sightglass CA certificate</title></head>
<body>
<h1>Sightglass CA certificate</h1>
<p>Sightglass intercepts TLS with certificates signed by a certificate authority unique to
this install. Trust it on the device whose traffic you want to see:</p>
<ul>
<li><a href="/cert/pem">sightglass-ca.pem</a> (PEM: Linux, macOS, Firefox, curl)</li>
<li><a href="/cert/der">sightglass-ca.cer</a> (DER: Windows, Android, iOS)</li>
</ul>
<h2>Install</h2>
<dl>
<dt>Debian, Ubuntu</dt><dd><code>sudo cp sightglass-ca.pem /usr/local/share/ca-certificates/sightglass.crt
&amp;&amp; sudo update-ca-certificates</code></dd>
<dt>Fedora, RHEL</dt><dd><code>sudo cp sightglass-ca.pem /etc/pki/ca-trust/source/anchors/
&amp;&amp; sudo update-ca-trust</code></dd>
<dt>macOS</dt><dd><code>sudo security add-trusted-cert -d -r trustRoot -k
/Library/Keychains/System.keychain sightglass-ca.pem</code></dd>
<dt>Windows</dt><dd><code>certutil -addstore root sightglass-ca.cer</code> (as administrator)</dd>
<dt>Firefox</dt><dd>Settings, Privacy &amp; Security, Certificates, View Certificates,
Authorities, Import: sightglass-ca.pem, trust it for websites.</dd>
<dt>Android</dt><dd>Settings, Security, Encryption &amp; credentials, Install a certificate,
CA certificate: sightglass-ca.cer (apps trust it only if they opt in to user CAs).</dd>
<dt>iOS</dt><dd>Open /cert/der in Safari, install the profile, then enable full trust in
Settings, General, About, Certificate Trust Settings.</dd>
<dt>curl</dt><dd><code>curl --cacert sightglass-ca.pem ...</code></dd>
</dl>
<p>Remove the certificate when you are done.</p>
</body></html>
)";

}  // namespace

void HttpLayer::serve_magic_host(const HttpHead& head, const HttpTarget& target,
                                 const std::string& path, Commands& out) {
  const std::string route = path.substr(0, path.find('?'));
  int status = 200;
  std::string body;
  Headers headers;
  if (route == "/" || route.empty()) {
    body = kMagicPage;
    headers.push_back({"Content-Type", "text/html; charset=utf-8"});
  } else if (route == "/cert/pem" && !ctx_->config->ca_cert_pem.empty()) {
    body = ctx_->config->ca_cert_pem;
    headers.push_back({"Content-Type", "application/x-pem-file"});
    headers.push_back({"Content-Disposition", "attachment; filename=\"sightglass-ca.pem\""});
  } else if (route == "/cert/der" && !ctx_->config->ca_cert_der.empty()) {
    body = ctx_->config->ca_cert_der;
    headers.push_back({"Content-Type", "application/x-x509-ca-cert"});
    headers.push_back({"Content-Disposition", "attachment; filename=\"sightglass-ca.cer\""});
  } else {
    status = 404;
    body = "no such page: see http://sightglass/\n";
    headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
  }
  headers.push_back({"Content-Length", std::to_string(body.size())});
  headers.push_back({"Connection", "close"});
  const bool head_only = head.method == "HEAD";
  out.push_back(SendData{
      kClientConn, serialize_response_head("HTTP/1.1", status, reason_phrase(status), headers) +
                       (head_only ? std::string() : body)});
  FlowSnapshot flow = ctx_->new_flow();
  HttpRequestData& request = flow.request.emplace();
  request.method = head.method;
  request.scheme = target.scheme;
  request.host = target.host;
  request.port = target.port;
  request.target = path;
  request.http_version = head.version;
  request.headers = head.headers;
  request.header_bytes = head.header_bytes;
  HttpResponseData& response = flow.response.emplace();
  response.status = status;
  response.reason = reason_phrase(status);
  response.headers = std::move(headers);
  response.body.append(head_only ? std::string_view() : std::string_view(body),
                       ctx_->config->body_limit);
  publish_final(std::move(flow), out);
  close_client(out);
}

}  // namespace sightglass::core
