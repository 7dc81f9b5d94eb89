#!/usr/bin/env bash
# Certificates for the compose broker's TLS listener, made with keytool (in the
# apache/kafka image and in any JRE), so no other tool is needed:
#   - a throw-away CA (its private key is deleted once the broker certificate is signed),
#   - the broker's PKCS12 keystore (key + certificate for kafka, localhost, 127.0.0.1,
#     signed by that CA) and its password file, as the apache/kafka image reads them
#     (KAFKA_SSL_KEYSTORE_FILENAME / _CREDENTIALS under /etc/kafka/secrets),
#   - ca.crt (PEM) for clients: sluice's SLUICE_SSL_CAFILE.
#
# Usage: make-certs.sh BROKER_DIR CA_DIR [--owner USER] [--if-missing]
#   compose runs it once in the one-shot `kafka-certs` service (--owner appuser, the
#   broker's user; --if-missing keeps the certificates of an existing volume);
#   tests/integration/test_tls.py runs it on the host against a local Apache Kafka.
set -euo pipefail
umask 077
broker_dir="${1:?BROKER_DIR}"
ca_dir="${2:?CA_DIR}"
shift 2
owner=""
if_missing=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    --owner) owner="$2"; shift 2 ;;
    --if-missing) if_missing=1; shift ;;
    *) echo "make-certs.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
keystore="$broker_dir/kafka.keystore.p12"
if [ "$if_missing" -eq 1 ] && [ -s "$keystore" ] && [ -s "$ca_dir/ca.crt" ]; then
  echo "make-certs.sh: $keystore exists, kept"
  exit 0
fi
mkdir -p "$broker_dir" "$ca_dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export KS_PASS
KS_PASS="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
days=825
san="SAN=dns:kafka,dns:localhost,ip:127.0.0.1"
kt() { keytool -storetype PKCS12 -storepass:env KS_PASS "$@" >>"$work/keytool.log" 2>&1 || { cat "$work/keytool.log" >&2; exit 1; }; }

rm -f "$keystore"
kt -genkeypair -keystore "$work/ca.p12" -alias ca -keyalg RSA -keysize 3072 \
  -dname "CN=sluice compose CA" -validity "$days" -ext bc:c -ext KU:c=keyCertSign,cRLSign
kt -exportcert -rfc -keystore "$work/ca.p12" -alias ca -file "$work/ca.crt"
kt -genkeypair -keystore "$keystore" -alias kafka -keyalg RSA -keysize 2048 \
  -dname "CN=kafka" -validity "$days" -ext "$san"
kt -certreq -keystore "$keystore" -alias kafka -file "$work/kafka.csr"
kt -gencert -keystore "$work/ca.p12" -alias ca -infile "$work/kafka.csr" -rfc \
  -outfile "$work/kafka.crt" -validity "$days" -ext "$san" \
  -ext KU:c=digitalSignature,keyEncipherment -ext EKU=serverAuth
kt -importcert -noprompt -keystore "$keystore" -alias ca -file "$work/ca.crt"
kt -importcert -noprompt -keystore "$keystore" -alias kafka -file "$work/kafka.crt"
printf "%s" "$KS_PASS" >"$broker_dir/kafka.keystore.password"
chmod 0755 "$ca_dir"
install -m 0644 "$work/ca.crt" "$ca_dir/ca.crt"
chmod 0600 "$keystore" "$broker_dir/kafka.keystore.password"
if [ -n "$owner" ]; then
  chown "$owner" "$keystore" "$broker_dir/kafka.keystore.password"
fi
# The CA key lived only in $work: nothing can sign another certificate for this broker.
echo "make-certs.sh: wrote $keystore and $ca_dir/ca.crt (valid $days days)"
