#!/bin/sh
# Writes cassandra.yaml with the container's address, then runs the node in the foreground.
set -eu
: "${CASSANDRA_HEAP:=1g}"
address=$(hostname -i | cut -d' ' -f1)
sed "s/@ADDRESS@/$address/g" /opt/cassandra/cassandra.yaml > /opt/cassandra/conf/cassandra.yaml
exec java "-Xms$CASSANDRA_HEAP" "-Xmx$CASSANDRA_HEAP" @/opt/cassandra/jvm.options \
  -Dcassandra.superuser_setup_delay_ms=0 \
  -Dcassandra.config=file:///opt/cassandra/conf/cassandra.yaml \
  -Dcassandra-foreground=yes \
  -Dcassandra.storagedir=/var/lib/cassandra/data \
  -Dcassandra.logdir=/var/lib/cassandra \
  -Dlogback.configurationFile=/opt/cassandra/logback.xml \
  -Dcassandra.skip_wait_for_gossip_to_settle=0 \
  -Dcassandra.initial_token=0 \
  -Dcassandra.jmx.local.port=7199 \
  -cp '/opt/cassandra/conf:/opt/cassandra/libs/*' org.apache.cassandra.service.CassandraDaemon
