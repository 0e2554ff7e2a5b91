"""Rig messaging: drive experiment rigs over UDP or TCP, in labdeck or iblutil mode.

:class:`Rig` is one rig seen from the controller, :class:`RigGroup` several driven
together, :class:`RigEndpoint` the rig side. The wire formats live in
:mod:`labdeck.protocol.rig` and :mod:`labdeck.protocol.rigibl`.
"""

from __future__ import annotations

from labdeck.rigs.address import DEFAULT_PORT, parse_uri
from labdeck.rigs.endpoint import RigEndpoint
from labdeck.rigs.group import GroupResult, RigConfig, RigGroup
from labdeck.rigs.handlers import SimulatedRig
from labdeck.rigs.link import Rig

__all__ = ["DEFAULT_PORT", "GroupResult", "Rig", "RigConfig", "RigEndpoint", "RigGroup", "SimulatedRig", "parse_uri"]
