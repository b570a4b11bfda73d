"""MQTT topic names of SPEC section 7, built in one place so no module spells a topic by hand."""

from __future__ import annotations

from dataclasses import dataclass

_FORBIDDEN_IN_LEVEL = ("/", "+", "#")  # a level with these would publish to, or subscribe to, other topics


def _check_level(name: str, value: str) -> None:
    if not value or any(c in value for c in _FORBIDDEN_IN_LEVEL):
        raise ValueError(f"{name} {value!r} cannot be an MQTT topic level (empty, or contains / + #)")


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    store_id: str
    gateway_id: str

    def __post_init__(self) -> None:
        # The prefix may itself have several levels ("acme/proximity"), but no wildcards.
        if not self.prefix or "+" in self.prefix or "#" in self.prefix:
            raise ValueError(f"topic prefix {self.prefix!r} is empty or contains a wildcard")
        _check_level("store_id", self.store_id)
        _check_level("gateway_id", self.gateway_id)

    def full(self, suffix: str) -> str:
        """`{prefix}/{store}/{suffix}`: the form every store-level topic takes."""
        return f"{self.prefix}/{self.store_id}/{suffix}"

    @property
    def status(self) -> str:
        return self.full(f"{self.gateway_id}/status")

    @property
    def consent(self) -> str:
        return self.full("consent")

    @property
    def redemptions(self) -> str:
        return self.full("redemptions")

    @property
    def presence(self) -> str:
        return self.full("presence")

    def trigger(self, campaign_id: str) -> str:
        _check_level("campaign_id", campaign_id)
        return self.full(f"triggers/{campaign_id}")

    def sightings(self, receiver: str) -> str:
        _check_level("receiver", receiver)
        return self.full(f"sightings/{receiver}")
