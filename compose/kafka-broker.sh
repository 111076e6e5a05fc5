#!/bin/bash
# The Kafka broker of docker-compose.yml (image apache/kafka, run as its entry point): one KRaft
# node whose clients connect the way they do on MSK, SASL/SCRAM-SHA-512 over TLS on kafka:9096.
# On the first start it makes a CA and a broker certificate with keytool (volume kafka-tls: the
# services trust ca.pem; the CA key is deleted once it has signed) and formats the data dir with
# one SCRAM user per name in KAFKA_USERS, all with the password SALESYNC_KAFKA_PASSWORD.
# Plaintext exists only on 127.0.0.1 inside the container (the broker itself, the health check).
# tests/deploy/test_compose.py runs this script against the devstack's jars.
set -euo pipefail

: "${SALESYNC_KAFKA_PASSWORD:?export SALESYNC_KAFKA_PASSWORD}" "${KAFKA_USERS:?}"
export SALESYNC_KAFKA_PASSWORD
KAFKA_BIN=${KAFKA_BIN:-/opt/kafka/bin}
TLS_DIR=${TLS_DIR:-/etc/kafka/secrets}
DATA_DIR=${DATA_DIR:-/var/lib/kafka/data}
CONFIG=${CONFIG:-/tmp/server.properties}
ADVERTISED_HOST=${ADVERTISED_HOST:-kafka}
CLIENT_PORT=${CLIENT_PORT:-9096}
INTERNAL_PORT=${INTERNAL_PORT:-9092}
CONTROLLER_PORT=${CONTROLLER_PORT:-9093}
umask 077

keytool_() {
  keytool "$@" -storepass:env SALESYNC_KAFKA_PASSWORD
}

if [ ! -f "$TLS_DIR/broker.p12" ]; then
  rm -f "$TLS_DIR/ca.p12" "$TLS_DIR/ca.pem" "$TLS_DIR/broker.csr" "$TLS_DIR/broker.pem"
  keytool_ -genkeypair -alias ca -keyalg EC -groupname secp256r1 -validity 3650 \
    -dname "CN=Salesync compose Kafka CA" -ext bc:c -keystore "$TLS_DIR/ca.p12"
  keytool_ -exportcert -rfc -alias ca -keystore "$TLS_DIR/ca.p12" -file "$TLS_DIR/ca.pem"
  keytool_ -genkeypair -alias broker -keyalg EC -groupname secp256r1 -validity 3650 \
    -dname "CN=$ADVERTISED_HOST" -keystore "$TLS_DIR/broker.p12"
  keytool_ -certreq -alias broker -keystore "$TLS_DIR/broker.p12" -file "$TLS_DIR/broker.csr"
  keytool_ -gencert -alias ca -keystore "$TLS_DIR/ca.p12" -rfc -validity 3650 \
    -infile "$TLS_DIR/broker.csr" -outfile "$TLS_DIR/broker.pem" \
    -ext "san=dns:$ADVERTISED_HOST,dns:localhost,ip:127.0.0.1" -ext eku=serverAuth
  keytool_ -importcert -noprompt -alias ca -file "$TLS_DIR/ca.pem" -keystore "$TLS_DIR/broker.p12"
  keytool_ -importcert -alias broker -file "$TLS_DIR/broker.pem" -keystore "$TLS_DIR/broker.p12"
  rm -f "$TLS_DIR/ca.p12" "$TLS_DIR/broker.csr" "$TLS_DIR/broker.pem"
  chmod 755 "$TLS_DIR"
  chmod 644 "$TLS_DIR/ca.pem"
fi

cat > "$CONFIG" << PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=SASL_SSL://0.0.0.0:$CLIENT_PORT,INTERNAL://127.0.0.1:$INTERNAL_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=SASL_SSL://$ADVERTISED_HOST:$CLIENT_PORT,INTERNAL://127.0.0.1:$INTERNAL_PORT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
listener.security.protocol.map=SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$TLS_DIR/broker.p12
listener.name.sasl_ssl.ssl.keystore.password=$SALESYNC_KAFKA_PASSWORD
listener.name.sasl_ssl.ssl.key.password=$SALESYNC_KAFKA_PASSWORD
log.dirs=$DATA_DIR
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPERTIES

if [ ! -f "$DATA_DIR/meta.properties" ]; then
  scram=()
  for user in $KAFKA_USERS; do
    scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$SALESYNC_KAFKA_PASSWORD]")
  done
  "$KAFKA_BIN/kafka-storage.sh" format -t "$("$KAFKA_BIN/kafka-storage.sh" random-uuid)" \
    -c "$CONFIG" "${scram[@]}"
fi
exec "$KAFKA_BIN/kafka-server-start.sh" "$CONFIG"
