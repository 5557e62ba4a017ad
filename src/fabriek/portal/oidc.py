"""OpenID Connect sign-in (authorisation code with PKCE) against the configured provider, as a
research federation's identity service (MyAccessID) is used in production. The ID token's
signature is checked against the provider's published keys, and its issuer, audience, nonce
and expiry against what this flow expects."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from fabriek.errors import Unauthenticated, Unavailable
from fabriek.settings import Settings

_METADATA_TTL = 3600.0
_ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
                         "ES384", "ES512", "EdDSA", "Ed25519"})


@dataclass(frozen=True)
class Started:
    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class Claims:
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str


class OidcClient:
    def __init__(self, settings: Settings) -> None:
        assert settings.oidc_issuer and settings.oidc_client_id
        # Compared exactly with what the provider's ID tokens carry, so it is taken from the
        # discovery document (which may end in "/" where the setting does not, or the reverse).
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.client_secret = settings.oidc_client_secret
        self.scopes = settings.oidc_scopes
        self.label = settings.oidc_label
        self._metadata: dict[str, Any] | None = None
        self._fetched = 0.0
        self._lock = threading.Lock()

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None or time.monotonic() - self._fetched > _METADATA_TTL:
                try:
                    r = httpx.get(f"{self.issuer.rstrip('/')}/.well-known/openid-configuration",
                                  timeout=10)
                    r.raise_for_status()
                except httpx.HTTPError as exc:
                    raise Unavailable(f"the identity provider {self.issuer} does not answer: "
                                      f"{exc}") from exc
                meta = r.json()
                if str(meta.get("issuer", "")).rstrip("/") != self.issuer.rstrip("/"):
                    # OpenID Connect Discovery §4.3: the document must name the issuer asked.
                    raise Unavailable(f"the identity provider at {self.issuer} calls itself "
                                      f"{meta.get('issuer')!r}; check FABRIEK_OIDC_ISSUER")
                self.issuer = meta["issuer"]
                self._metadata, self._fetched = meta, time.monotonic()
            return self._metadata

    def _session(self, redirect_uri: str) -> OAuth2Session:
        return OAuth2Session(self.client_id, self.client_secret, scope=self.scopes,
                             redirect_uri=redirect_uri, code_challenge_method="S256")

    def start(self, redirect_uri: str) -> Started:
        verifier, nonce = generate_token(48), generate_token(20)
        url, state = self._session(redirect_uri).create_authorization_url(
            self.metadata()["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
        return Started(url=url, state=state, nonce=nonce, code_verifier=verifier)

    def finish(self, redirect_uri: str, callback_url: str, *, state: str, code_verifier: str,
               nonce: str) -> Claims:
        """Trade the callback's code for tokens and check the ID token; the flow's `state`,
        PKCE verifier and nonce are what this browser's sign-in started with."""
        meta = self.metadata()
        returned_iss = dict(parse_qsl(urlsplit(callback_url).query)).get("iss")
        if returned_iss is not None and returned_iss != self.issuer:
            # RFC 9207: the answer names another provider (a mix-up attack, or a wrong setup).
            raise Unauthenticated(f"the sign-in answer came from {returned_iss}, not from "
                                  f"{self.issuer}")
        client = self._session(redirect_uri)
        try:
            token = client.fetch_token(meta["token_endpoint"], authorization_response=callback_url,
                                       state=state, code_verifier=code_verifier)
            keys = KeySet.import_key_set(httpx.get(meta["jwks_uri"], timeout=10).json())
            id_token = jwt.decode(token["id_token"], keys, algorithms=_algorithms(meta))
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                nonce={"essential": True, "value": nonce},
                exp={"essential": True}, sub={"essential": True},
            ).validate(id_token.claims)
            audiences = id_token.claims["aud"]
            if (isinstance(audiences, list) and len(audiences) > 1
                    and id_token.claims.get("azp") != self.client_id):
                raise ValueError("the ID token is for several audiences and not authorised "
                                 "for this client (azp)")
        except (JoseError, KeyError, ValueError) as exc:
            raise Unauthenticated(f"the identity provider's answer was not valid: {exc}") from exc
        except Exception as exc:  # the OAuth client raises its own errors for refused codes
            raise Unauthenticated(f"the identity provider refused the sign-in: {exc}") from exc
        claims = dict(id_token.claims)
        if "email" not in claims and meta.get("userinfo_endpoint"):
            info = client.get(meta["userinfo_endpoint"], timeout=10)
            if info.ok and info.json().get("sub") == claims["sub"]:
                claims = {**info.json(), **claims}
        return Claims(issuer=self.issuer, subject=str(claims["sub"]), email=claims.get("email"),
                      email_verified=_is_true(claims.get("email_verified")),
                      name=str(claims.get("name") or ""))


def _algorithms(meta: dict[str, Any]) -> list[str]:
    """The provider's signing algorithms, asymmetric ones only: an ID token must be signed
    with the provider's published keys (never 'none', nor HMAC with the client secret)."""
    offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
    return [alg for alg in offered if alg in _ASYMMETRIC] or ["RS256"]


def _is_true(value: object) -> bool:
    # Some providers send "true"/"false" as strings; bool("false") would count as verified.
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def client_from(settings: Settings) -> OidcClient | None:
    if not (settings.oidc_issuer and settings.oidc_client_id):
        return None
    return OidcClient(settings)
