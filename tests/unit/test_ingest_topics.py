"""Topic templates: subscriptions, tags from {placeholders}, shared subscriptions."""

from __future__ import annotations

import pytest

from alertloop.services.common.errors import ConfigError
from alertloop.services.ingester.errors import EncodeError
from alertloop.services.ingester.topics import TopicRouter, parse_template


def test_plain_filter_has_no_tags() -> None:
    template = parse_template("/pot")
    assert (template.filter, template.subscription, template.tags) == ("/pot", "/pot", ())
    assert template.match("/pot") == {}
    assert template.match("/other") is None


def test_placeholder_becomes_wildcard_and_tag() -> None:
    template = parse_template("sensors/{device}/pot")
    assert template.subscription == "sensors/+/pot"
    assert template.match("sensors/esp32-1/pot") == {"device": "esp32-1"}
    assert template.match("sensors/esp32-1/other") is None
    assert template.match("sensors/a/b/pot") is None


def test_share_group_prefixes_the_subscription_only() -> None:
    template = parse_template("sensors/{device}/pot", share_group="ingest")
    assert template.subscription == "$share/ingest/sensors/+/pot"
    assert template.match("sensors/x/pot") == {"device": "x"}
    explicit = parse_template("$share/g1/t/pot")
    assert (explicit.subscription, explicit.filter) == ("$share/g1/t/pot", "t/pot")


@pytest.mark.parametrize(
    "text",
    ["", "a/{dev}ice/b", "a/#/b", "a/b+/c", "a/{x}/{x}", "$share//x", "$share/g"],
    ids=[
        "empty",
        "partial-placeholder",
        "hash-not-last",
        "plus-in-segment",
        "twice",
        "no-group",
        "no-filter",
    ],
)
def test_malformed_templates(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_template(text)


def test_router_picks_the_first_matching_template_and_caches() -> None:
    router = TopicRouter(
        [parse_template("a/{device}/pot"), parse_template("b/#")], topic_tag="topic"
    )
    assert router.subscriptions == ["a/+/pot", "b/#"]
    assert router.tags_for("a/k1/pot") == ",device=k1,topic=a/k1/pot"
    assert router.tags_for("b/x y") == ",topic=b/x\\ y"
    assert router.tags_for("c") is None
    assert router.tags_for("a/k1/pot") == ",device=k1,topic=a/k1/pot"


def test_router_single_plain_filter_needs_no_matching() -> None:
    assert TopicRouter([parse_template("/pot")]).tags_for("/pot") == ""


def test_router_refuses_unrepresentable_tag_values() -> None:
    router = TopicRouter([parse_template("s/{device}/pot")])
    with pytest.raises(EncodeError):
        router.tags_for("s/a\\b/pot")
    with pytest.raises(EncodeError):
        router.tags_for("s//pot")


def test_constant_tags_join_every_point() -> None:
    static = TopicRouter([parse_template("/pot")], constant_tags={"ingester": "i-1"})
    assert static.tags_for("/pot") == ",ingester=i-1"
    templated = TopicRouter([parse_template("s/{device}/pot")], constant_tags={"ingester": "i-1"})
    assert templated.tags_for("s/a/pot") == ",device=a,ingester=i-1"
