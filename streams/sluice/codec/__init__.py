"""Wire format: Avro single-object encoding with a local registry of every shipped schema."""

from sluice.codec.avro import Codec, crc64_avro, default_codec, schema_dir

__all__ = ["Codec", "crc64_avro", "default_codec", "schema_dir"]
