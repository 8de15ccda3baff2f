// The system's CA bundle, found rather than assumed.
#pragma once

#include <string>
#include <vector>

namespace wis2mon::detail {

// Where distributions keep their PEM bundle: Debian and Ubuntu, then Amazon Linux, RHEL and
// Fedora, then openSUSE, then Alpine and the BSDs.
inline const std::vector<std::string>& known_ca_files() {
  static const std::vector<std::string> files = {
      "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
      "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem"};
  return files;
}

/// The first of `candidates` that is a readable file, or `env_file` (OpenSSL's SSL_CERT_FILE)
/// when that is set; empty when none is.
std::string find_ca_file(const char* env_file, const std::vector<std::string>& candidates);

/// The bundle TLS uses when no ca_file is configured, looked up once per process. The libraries
/// the portable wheels carry were built on Debian, whose bundle path is compiled into them; on
/// Amazon Linux (AWS Lambda) or RHEL that file does not exist and every https download or
/// mqtts connection would fail to verify. Empty: none found (the libraries' defaults apply).
const std::string& system_ca_file();

}  // namespace wis2mon::detail
