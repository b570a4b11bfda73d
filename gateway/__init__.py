"""Proximity gateway: BLE advertisements in, coupon triggers and presence events out over MQTT."""

__version__ = "0.1.0"
