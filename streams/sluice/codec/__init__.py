"""Wire format: Avro single-object encoding with a local registry of every shipped schema."""

from sluice.codec.avro import Codec, default_codec, schema_dir, schema_fingerprint

__all__ = ["Codec", "default_codec", "schema_dir", "schema_fingerprint"]
