"""Database roles for least privilege (`fhir-server mongo init`; docs/mongodb.md).

The roles live in the FHIR database and grant actions on named collections only. Creating
users is left to the operator (their passwords are secrets this code never handles).
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.storage.mongo.schema import ROLES, RoleSpec

__all__ = ["ensure_roles", "role_privileges"]


def role_privileges(db_name: str, role: RoleSpec) -> list[dict[str, Any]]:
    """The `privileges` array of a createRole/updateRole command."""
    return [
        {"resource": {"db": db_name, "collection": collection}, "actions": list(actions)}
        for collection, actions in role.privileges
    ]


async def ensure_roles(db: AsyncDatabase[dict[str, Any]]) -> list[str]:
    """Create each role, or reset its privileges to these if it exists; returns the names.

    Resetting rather than skipping means a role edited by hand (say, `update` added to
    the audit writer) is put back to least privilege by the next `mongo init`.
    """
    done: list[str] = []
    for role in ROLES:
        info = await db.command("rolesInfo", role.name)
        exists = bool(info.get("roles"))
        command = "updateRole" if exists else "createRole"
        await db.command(
            command,
            role.name,
            privileges=role_privileges(db.name, role),
            roles=[],
        )
        done.append(role.name)
    return done
