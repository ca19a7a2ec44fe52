"""Topic filters with ``{name}`` placeholders: what to subscribe to, and the tags of a topic.

A template such as ``sensors/{device}/pot`` subscribes to ``sensors/+/pot`` and stores the
matched segment as the tag ``device``. Plain filters (``/pot``, ``sensors/#``) add no tags.
``$share/<group>/<filter>`` subscribes through a shared subscription; the filter part is what
incoming topics are matched against.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from paho.mqtt.client import topic_matches_sub

from alertloop.services.common.errors import ConfigError
from alertloop.services.ingester.lineprotocol import tag_set

__all__ = ["TopicRouter", "TopicTemplate", "parse_template"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class TopicTemplate:
    """One configured topic: its MQTT filter, and which segments become which tags."""

    text: str
    filter: str
    subscription: str
    segments: tuple[str, ...]
    tags: tuple[tuple[int, str], ...]

    def match(self, topic: str) -> dict[str, str] | None:
        """The tags of ``topic`` if it matches this template, else None."""
        if not self.tags:
            return {} if topic_matches_sub(self.filter, topic) else None
        parts = topic.split("/")
        if len(parts) != len(self.segments) and "#" not in self.segments:
            return None
        if not topic_matches_sub(self.filter, topic):
            return None
        return {name: parts[index] for index, name in self.tags}


def parse_template(text: str, share_group: str | None = None) -> TopicTemplate:
    """Parse one configured topic. Raises ConfigError for an empty or malformed template."""
    if not text:
        raise ConfigError("topic filter is empty")
    body, share = text, share_group
    if text.startswith("$share/"):
        parts = text.split("/", 2)
        if len(parts) < 3 or not parts[1] or not parts[2]:
            raise ConfigError(f"topic {text!r}: expected $share/<group>/<filter>")
        share, body = parts[1], parts[2]
    segments = tuple(body.split("/"))
    tags: list[tuple[int, str]] = []
    filter_parts: list[str] = []
    for index, segment in enumerate(segments):
        found = _PLACEHOLDER.fullmatch(segment)
        if found:
            tags.append((index, found.group(1)))
            filter_parts.append("+")
        elif "{" in segment or "}" in segment:
            raise ConfigError(
                f"topic {text!r}: a placeholder must be a whole segment, like {{device}}"
            )
        elif ("#" in segment and (segment != "#" or index != len(segments) - 1)) or (
            "+" in segment and segment != "+"
        ):
            raise ConfigError(f"topic {text!r}: misplaced wildcard in segment {segment!r}")
        else:
            filter_parts.append(segment)
    names = [name for _, name in tags]
    if len(set(names)) != len(names):
        raise ConfigError(f"topic {text!r}: a placeholder appears twice")
    mqtt_filter = "/".join(filter_parts)
    subscription = f"$share/{share}/{mqtt_filter}" if share else mqtt_filter
    return TopicTemplate(text, mqtt_filter, subscription, segments, tuple(tags))


class TopicRouter:
    """Finds the tag set of an incoming topic (first matching template wins), with a cache."""

    def __init__(
        self,
        templates: Sequence[TopicTemplate],
        topic_tag: str | None = None,
        cache_size: int = 10_000,
        constant_tags: dict[str, str] | None = None,
    ) -> None:
        if not templates:
            raise ConfigError("at least one topic is needed")
        self.templates = tuple(templates)
        self.topic_tag = topic_tag
        self.constant_tags = dict(constant_tags or {})
        self._cache: dict[str, str | None] = {}
        self._cache_size = cache_size
        static = len(templates) == 1 and not templates[0].tags and not topic_tag
        self._static = tag_set(self.constant_tags) if static else None

    @property
    def subscriptions(self) -> list[str]:
        """The filters to subscribe to."""
        return [template.subscription for template in self.templates]

    def tags_for(self, topic: str) -> str | None:
        """The line-protocol tag set for ``topic``; None when no template matches it.

        Raises EncodeError when a tag value cannot be carried by line protocol.
        """
        if self._static is not None:
            return self._static
        try:
            return self._cache[topic]
        except KeyError:
            pass
        result: str | None = None
        for template in self.templates:
            tags = template.match(topic)
            if tags is not None:
                tags.update(self.constant_tags)
                if self.topic_tag:
                    tags[self.topic_tag] = topic
                result = tag_set(tags)
                break
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[topic] = result
        return result
