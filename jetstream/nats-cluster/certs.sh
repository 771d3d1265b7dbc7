#!/bin/sh
# Certificates for TLS between the cluster's nodes (routes): a private CA and one certificate
# per node, named for its route host name, good for serving and for presenting to the other
# nodes (mutual TLS). Existing files are kept, so running it again changes nothing.
#
#   jetstream/nats-cluster/certs.sh DIR [NODE…]        (default nodes: nats1 nats2 nats3)
#
# Writes DIR/ca.pem (public), DIR/ca-key.pem (keep it offline after issuing), and per node
# DIR/<node>.pem, DIR/<node>-key.pem. PARLEY_CERT_EXTRA_SAN adds names to every node
# certificate (e.g. "IP:127.0.0.1" for a cluster on one host).
set -eu
dir=$1; shift
[ $# -gt 0 ] || set -- nats1 nats2 nats3
mkdir -p "$dir"
umask 077
if [ ! -f "$dir/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=parley-nats-ca" -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" 2>/dev/null
fi
for node in "$@"; do
  [ -f "$dir/$node.pem" ] && continue
  san="DNS:$node${PARLEY_CERT_EXTRA_SAN:+,$PARLEY_CERT_EXTRA_SAN}"
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" >"$dir/$node.ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$node" \
    -keyout "$dir/$node-key.pem" -out "$dir/$node.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$node.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
    -CAcreateserial -days 825 -extfile "$dir/$node.ext" -out "$dir/$node.pem" 2>/dev/null
  rm -f "$dir/$node.csr" "$dir/$node.ext"
done
chmod 644 "$dir/ca.pem" "$dir"/*.pem 2>/dev/null || true
chmod 600 "$dir"/*-key.pem
