#!/bin/sh
# Formats the KRaft storage on first start, then runs the broker in the foreground.
set -eu
cd /opt/kafka
: "${KAFKA_CLUSTER_ID:?set KAFKA_CLUSTER_ID (22 characters of base64url, e.g. from kafka-storage random-uuid)}"
: "${KAFKA_ADVERTISED_HOST_PORT:=localhost:9092}"
: "${KAFKA_HEAP_OPTS:=-Xms512m -Xmx512m}"
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
  java -Xmx256m -cp '/opt/kafka/libs/*' kafka.tools.StorageTool format \
    --cluster-id="$KAFKA_CLUSTER_ID" -c server.properties --ignore-formatted
fi
# shellcheck disable=SC2086
exec java $KAFKA_HEAP_OPTS @/opt/kafka/jvm.options -Dlog4j2.configurationFile=/opt/kafka/log4j2.properties \
  -cp '/opt/kafka/libs/*' kafka.Kafka server.properties \
  --override "advertised.listeners=INTERNAL://kafka:29092,EXTERNAL://$KAFKA_ADVERTISED_HOST_PORT"
