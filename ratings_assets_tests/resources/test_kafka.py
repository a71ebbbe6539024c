"""KafkaResource's connection options under both clients' names."""

from ratings_assets.resources.kafka import KafkaResource


def test_plaintext_options_carry_address_and_client_id_only():
    kafka = KafkaResource(bootstrap_servers="k1:9092,k2:9092")
    assert kafka.client_options() == {"bootstrap_servers": "k1:9092,k2:9092", "client_id": "ratings-assets",
                                      "security_protocol": "PLAINTEXT"}
    assert kafka.librdkafka_options() == {"bootstrap.servers": "k1:9092,k2:9092", "client.id": "ratings-assets",
                                          "security.protocol": "PLAINTEXT"}


def test_sasl_options_use_each_clients_own_names():
    kafka = KafkaResource(bootstrap_servers="k:9093", security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                          sasl_username="ratings", sasl_password="s3cret")
    assert kafka.client_options() == {
        "bootstrap_servers": "k:9093", "client_id": "ratings-assets", "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "ratings", "sasl_plain_password": "s3cret",
    }
    assert kafka.librdkafka_options() == {
        "bootstrap.servers": "k:9093", "client.id": "ratings-assets", "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "ratings", "sasl.password": "s3cret",
    }


def test_spark_options_carry_the_address_and_sasl_as_a_jaas_line():
    assert KafkaResource(bootstrap_servers="k:9092").spark_source_options() == {"kafka.bootstrap.servers": "k:9092"}
    sasl = KafkaResource(bootstrap_servers="k:9093", security_protocol="SASL_PLAINTEXT", sasl_username="u",
                         sasl_password="p").spark_source_options()
    assert sasl["kafka.security.protocol"] == "SASL_PLAINTEXT"
    assert sasl["kafka.sasl.mechanism"] == "PLAIN"
    assert sasl["kafka.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";')
