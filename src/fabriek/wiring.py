"""The policy every process runs under, built the same way by the API and the worker.

Access modes and checks, the federation's catalogue and referral weights, and the AI Act gate,
all read from FABRIEK_POLICY_DIR where it overrides the packaged files.
"""

from __future__ import annotations

from fabriek.access.policy_files import AccessPolicy
from fabriek.access.service import AccessConfig
from fabriek.compliance.gate import with_ai_act
from fabriek.federation.referrals import FederationConfig
from fabriek.settings import Settings


def access_config(settings: Settings) -> AccessConfig:
    return with_ai_act(AccessConfig(policy=AccessPolicy.load(settings.policy_dir),
                                    federation=FederationConfig.load(settings.policy_dir)))
