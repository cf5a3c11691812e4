"""Admin CLI for tenants and API keys, against the Redis named by the usual settings (``KARLOQ_*``).

python -m karlo_api.admin create-tenant NAME
python -m karlo_api.admin issue-key TENANT_ID
python -m karlo_api.admin revoke-key KEY_ID
python -m karlo_api.admin list
python -m karlo_api.admin rotate-webhook-secret TENANT_ID   # prints the new whsec_ secret, once
python -m karlo_api.admin set-webhook-url TENANT_ID URL     # the tenant's default receiver ("" clears it)
python -m karlo_api.admin set-webhook-networks TENANT_ID [CIDR ...]  # private networks its receivers may reach
python -m karlo_api.admin set-webhook-networks TENANT_ID --default    # back to KARLOQ_WEBHOOK_ALLOW_NETWORKS
python -m karlo_api.admin seal-webhook-secrets              # seal secrets stored in clear by older versions
"""

from __future__ import annotations

import argparse
import sys

import redis

from karlo_core import keys, tenants
from karlo_core.netguard import BlockedDestination, parse_networks
from karlo_core.redis_client import make_redis
from karlo_core.settings import Settings
from karlo_core.webhooks.factory import secret_store, webhook_guards
from karlo_core.webhooks.guards import WebhookGuards
from karlo_core.webhooks.outbox import Outbox

WEBHOOK_COMMANDS = ("rotate-webhook-secret", "set-webhook-url", "set-webhook-networks")


def run(client: redis.Redis, argv: list[str], settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m karlo_api.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create-tenant").add_argument("name")
    commands.add_parser("issue-key").add_argument("tenant_id")
    commands.add_parser("revoke-key").add_argument("key_id")
    commands.add_parser("list")
    commands.add_parser("rotate-webhook-secret").add_argument("tenant_id")
    set_url = commands.add_parser("set-webhook-url")
    set_url.add_argument("tenant_id")
    set_url.add_argument("url", help='the default receiver; "" clears it')
    networks = commands.add_parser("set-webhook-networks")
    networks.add_argument("tenant_id")
    networks.add_argument("cidrs", nargs="*", help="none: public receivers only")
    networks.add_argument("--default", action="store_true", help="use KARLOQ_WEBHOOK_ALLOW_NETWORKS again")
    commands.add_parser("seal-webhook-secrets")
    args = parser.parse_args(argv)
    if args.command == "seal-webhook-secrets":
        every = sorted(_text(m) for m in client.smembers(keys.tenants()))
        print(f"sealed {secret_store(settings or Settings(), client).seal_all(every)} webhook secrets")
        return 0
    if args.command in WEBHOOK_COMMANDS:
        return _webhook_command(client, args, settings or Settings())
    if args.command == "create-tenant":
        print(tenants.create_tenant(client, args.name))
    elif args.command == "issue-key":
        try:
            issued = tenants.issue_key(client, args.tenant_id)
        except KeyError:
            print(f"no tenant {args.tenant_id}", file=sys.stderr)
            return 1
        print(f"key id {issued.key_id}; the key (shown only now): {issued.secret_key}")
    elif args.command == "revoke-key":
        if not tenants.revoke_key(client, args.key_id):
            print(f"no key {args.key_id}", file=sys.stderr)
            return 1
        print(f"revoked {args.key_id}")
    else:
        for tenant_id in sorted(_text(m) for m in client.smembers(keys.tenants())):
            key_ids = sorted(_text(k) for k in client.smembers(keys.tenant_api_keys(tenant_id)))
            print(tenant_id, " ".join(key_ids))
    return 0


def _webhook_command(client: redis.Redis, args: argparse.Namespace, settings: Settings) -> int:
    if not client.sismember(keys.tenants(), args.tenant_id):
        print(f"no tenant {args.tenant_id}", file=sys.stderr)
        return 1
    secrets_ = secret_store(settings, client)
    guards = webhook_guards(settings, client)
    if args.command == "set-webhook-networks":
        return _set_networks(guards, args)
    if args.command == "rotate-webhook-secret":
        print(f"webhook signing secret (shown only now): {secrets_.rotate(args.tenant_id).secret}")
        return 0
    if args.url:
        try:
            guards.for_tenant(args.tenant_id).check_url(args.url)
        except BlockedDestination as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 1
        if not secrets_.has_secret(args.tenant_id):
            print("the tenant has no webhook signing secret: run rotate-webhook-secret first", file=sys.stderr)
            return 1
    Outbox(client).set_default_url(args.tenant_id, args.url or None)
    print(f"default webhook URL of {args.tenant_id}: {args.url or '(none)'}")
    return 0


def _set_networks(guards: WebhookGuards, args: argparse.Namespace) -> int:
    if args.default:
        guards.set_networks(args.tenant_id, None)
        print(f"webhook networks of {args.tenant_id}: the default (KARLOQ_WEBHOOK_ALLOW_NETWORKS)")
        return 0
    try:
        networks = parse_networks(args.cidrs)
    except ValueError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    guards.set_networks(args.tenant_id, networks)
    shown = ", ".join(str(n) for n in networks) or "none (public receivers only)"
    print(f"webhook networks of {args.tenant_id}: {shown}")
    return 0


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def main() -> int:
    settings = Settings()
    client = make_redis(settings)
    try:
        return run(client, sys.argv[1:], settings)
    finally:
        client.close()


if __name__ == "__main__":
    raise SystemExit(main())
