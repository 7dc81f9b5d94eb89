"""Topic administration: create sluice's topics with their settings, describe, delete.

Creation is idempotent and reports what the broker holds (partition count, settings),
so the worker can check co-partitioning and topic settings before it starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from sluice.kafka.clients import make_admin
from sluice.settings import Settings
from sluice.topics import Topics

__all__ = [
    "TopicReport",
    "create_topics",
    "delete_topics_with_prefix",
    "describe_topic_configs",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopicReport:
    """What ``create_topics`` did for one topic."""

    name: str
    status: str  # "created" | "exists"
    partitions: int
    #: The topic's settings as the broker describes them (empty if it did not answer).
    configs: Mapping[str, str] = field(default_factory=dict)


async def create_topics(
    settings: Settings,
    topics: Topics | None = None,
    *,
    partitions: int | None = None,
    names: Iterable[str] | None = None,
) -> list[TopicReport]:
    """Create the SPEC topics idempotently with their settings; report each one."""
    topics = topics or Topics.with_prefix(settings.topic_prefix)
    n = partitions or settings.partitions
    configs = topics.configs()
    wanted = list(names) if names is not None else list(configs)
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        reports: list[TopicReport] = []
        new = [
            NewTopic(name, n, settings.replication_factor, topic_configs=configs.get(name, {}))
            for name in wanted
            if name not in existing
        ]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
        described = await admin.describe_topics(wanted)
        # A topic just created may be described before its partitions are: wait (bounded)
        # until every new topic shows them, so callers never read a count of 0.
        created = {t.name for t in new}
        for _ in range(50):
            if not any(d["topic"] in created and not d["partitions"] for d in described):
                break
            await asyncio.sleep(0.1)
            described = await admin.describe_topics(wanted)
        configs_now = await describe_topic_configs(admin, wanted)
        for d in described:
            name = d["topic"]
            reports.append(
                TopicReport(
                    name,
                    "exists" if name in existing else "created",
                    len(d["partitions"]),
                    configs_now.get(name, {}),
                )
            )
        return reports
    finally:
        await admin.close()


async def describe_topic_configs(
    admin: AIOKafkaAdminClient, names: Iterable[str]
) -> dict[str, dict[str, str]]:
    """Topic → its settings (name → value) as the broker reports them.

    Topics the broker reports an error for are left out; values it hides
    (sensitive settings) are left out too.
    """
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    if not resources:
        return {}
    out: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.resources:
            error_code, _message, _type, name, entries = resource[:5]
            if error_code:
                log.warning(
                    "describe_configs failed for a topic",
                    extra={"topic": name, "error_code": error_code},
                )
                continue
            out[name] = {str(entry[0]): str(entry[1]) for entry in entries if entry[1] is not None}
    return out


async def delete_topics_with_prefix(settings: Settings, prefix: str) -> list[str]:
    """Delete every topic whose name starts with ``prefix`` (bench clean-up); returns them."""
    if not prefix:
        raise ValueError("refusing to delete topics without a prefix")
    admin = make_admin(settings)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()
