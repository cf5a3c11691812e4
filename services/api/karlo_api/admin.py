"""Admin CLI for tenants and API keys, against the Redis named by the usual settings (``KARLOQ_*``).

python -m karlo_api.admin create-tenant NAME
python -m karlo_api.admin issue-key TENANT_ID [--export]   # --export prints `export KARLOQ_API_KEY=...`
python -m karlo_api.admin revoke-key KEY_ID
python -m karlo_api.admin list
python -m karlo_api.admin rotate-webhook-secret TENANT_ID   # prints the new whsec_ secret, once
python -m karlo_api.admin set-webhook-url TENANT_ID URL     # the tenant's default receiver ("" clears it)
python -m karlo_api.admin set-webhook-networks TENANT_ID [CIDR ...]  # private networks its receivers may reach
python -m karlo_api.admin set-webhook-networks TENANT_ID --default    # back to KARLOQ_WEBHOOK_ALLOW_NETWORKS
python -m karlo_api.admin seal-webhook-secrets              # seal secrets stored in clear by older versions
python -m karlo_api.admin set-plan TENANT_ID [--weight W] [--per-minute N] [--per-day N] [--per-month N]
                                   [--max-active N] [--max-priority high|normal|low]  # "" clears a field
python -m karlo_api.admin show-plan TENANT_ID

``--env-file FILE`` reads settings from ``KEY=VALUE`` lines first (the environment still wins): ``make run``
writes ``var/run/stack.env`` so that ``--env-file var/run/stack.env`` (what ``make admin ARGS=...`` passes)
reaches its Redis. ``create-tenant`` and ``issue-key`` refuse a Redis holding no karlo-queue data, which is
most often not the one the API uses, unless given ``--allow-empty-redis``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import redis

from karlo_core import keys, tenants
from karlo_core.errors import BlockedDestination
from karlo_core.netguard import parse_networks
from karlo_core.plans import PLAN_FIELDS, Plans
from karlo_core.redis_client import make_redis
from karlo_core.settings import Settings
from karlo_core.webhooks.endpoints import WebhookEndpoints
from karlo_core.webhooks.factory import secret_store, webhook_guards
from karlo_core.webhooks.guards import WebhookGuards

WEBHOOK_COMMANDS = ("rotate-webhook-secret", "set-webhook-url", "set-webhook-networks")


ALLOW_EMPTY_HELP = "write even to a Redis that holds no karlo-queue data yet (a new deployment)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m karlo_api.admin")
    parser.add_argument("--env-file", type=Path, help="read settings from KEY=VALUE lines (make run's stack.env)")
    return parser


def run(client: redis.Redis, argv: list[str], settings: Settings | None = None) -> int:
    parser = _parser()
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-tenant")
    create.add_argument("name")
    create.add_argument("--allow-empty-redis", action="store_true", help=ALLOW_EMPTY_HELP)
    issue = commands.add_parser("issue-key")
    issue.add_argument("tenant_id")
    issue.add_argument("--export", action="store_true", help="print only `export KARLOQ_API_KEY=<key>`")
    issue.add_argument("--allow-empty-redis", action="store_true", help=ALLOW_EMPTY_HELP)
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
    set_plan = commands.add_parser("set-plan", help="set a tenant's plan fields (at once; '' back to the default)")
    set_plan.add_argument("tenant_id")
    for name in PLAN_FIELDS:
        set_plan.add_argument(f"--{name.replace('_', '-')}", dest=name)
    commands.add_parser("show-plan").add_argument("tenant_id")
    args = parser.parse_args(argv)
    if args.command in ("set-plan", "show-plan"):
        return _plan_command(client, args, settings or Settings())
    if args.command == "seal-webhook-secrets":
        every = sorted(_text(m) for m in client.smembers(keys.tenants()))
        print(f"sealed {secret_store(settings or Settings(), client).seal_all(every)} webhook secrets")
        return 0
    if args.command in WEBHOOK_COMMANDS:
        return _webhook_command(client, args, settings or Settings())
    if args.command in ("create-tenant", "issue-key") and not args.allow_empty_redis and not _holds_our_data(client):
        print(
            f"refused: the Redis at {_location(client)} holds no karlo-queue data, so it is probably not the one "
            "your API uses. For `make run`, use `make admin ARGS=...` (or --env-file var/run/stack.env); "
            "else set KARLOQ_REDIS_URL. For a new deployment, pass --allow-empty-redis.",
            file=sys.stderr,
        )
        return 2
    return _tenant_command(client, args)


def _tenant_command(client: redis.Redis, args: argparse.Namespace) -> int:
    if args.command == "create-tenant":
        print(tenants.create_tenant(client, args.name))
    elif args.command == "issue-key":
        try:
            issued = tenants.issue_key(client, args.tenant_id)
        except KeyError:
            print(f"no tenant {args.tenant_id}", file=sys.stderr)
            return 1
        if args.export:
            print(f"export KARLOQ_API_KEY={issued.secret_key}")
        else:
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
    WebhookEndpoints(client).set_default_url(args.tenant_id, args.url or None)
    print(f"default webhook URL of {args.tenant_id}: {args.url or '(none)'}")
    return 0


def _plan_command(client: redis.Redis, args: argparse.Namespace, settings: Settings) -> int:
    plans = Plans(client, settings)
    if args.command == "set-plan":
        changes = {name: getattr(args, name) for name in PLAN_FIELDS if getattr(args, name) is not None}
        try:
            plan = plans.set(args.tenant_id, changes)
        except ValueError as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 2
    else:
        plan = plans.get(args.tenant_id)
    print(json.dumps({"tenant": args.tenant_id, **asdict(plan)}))
    return 0


def _holds_our_data(client: redis.Redis) -> bool:
    return next(iter(client.scan_iter(f"{keys.PREFIX}:*", count=1000)), None) is not None


def _location(client: redis.Redis) -> str:
    """host:port/db of the client's Redis, without any password."""
    kwargs = client.connection_pool.connection_kwargs
    where = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
    return f"{where}/{kwargs.get('db', 0)}"


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
    known, _ = _parser().parse_known_args(sys.argv[1:])
    if known.env_file is not None and not known.env_file.is_file():
        print(f"no settings file {known.env_file}: is `make run` running from this directory?", file=sys.stderr)
        return 2
    settings = Settings(_env_file=known.env_file) if known.env_file is not None else Settings()
    client = make_redis(settings)
    try:
        return run(client, sys.argv[1:], settings)
    finally:
        client.close()


if __name__ == "__main__":
    raise SystemExit(main())
