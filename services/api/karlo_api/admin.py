"""Admin CLI for tenants and API keys, against the Redis named by the usual settings (``KARLOQ_*``).

python -m karlo_api.admin create-tenant NAME
python -m karlo_api.admin issue-key TENANT_ID
python -m karlo_api.admin revoke-key KEY_ID
python -m karlo_api.admin list
"""

from __future__ import annotations

import argparse
import sys

import redis

from karlo_core import keys, tenants
from karlo_core.redis_client import make_redis
from karlo_core.settings import Settings


def run(client: redis.Redis, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m karlo_api.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create-tenant").add_argument("name")
    commands.add_parser("issue-key").add_argument("tenant_id")
    commands.add_parser("revoke-key").add_argument("key_id")
    commands.add_parser("list")
    args = parser.parse_args(argv)
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


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def main() -> int:
    client = make_redis(Settings())
    try:
        return run(client, sys.argv[1:])
    finally:
        client.close()


if __name__ == "__main__":
    raise SystemExit(main())
