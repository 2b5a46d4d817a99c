"""Console roles and the one table saying what each may do.

Roles: `security_admin` (rules, devices, everything), `helpdesk` (cases and the employees in
them), `auditor` (read-only, including the audit log). Routes ask `allowed(role, permission)`
for the kind of action; `sees_only_case_employees(role)` narrows the help desk's reads of
people, devices and sign-ins to the employees who have a case (server.services.visibility).
"""

from __future__ import annotations

from server.services.errors import Forbidden

ROLES = ("security_admin", "helpdesk", "auditor")

# devices.assess: the lost-device assessment (a read, but each one is audited)
_READ = {"devices.read", "employees.read", "tokens.read", "rules.read", "audit.read",
         "api_tokens.read", "signins.read", "nudges.read", "devices.assess"}
_WRITE = {"devices.revoke", "employees.write", "tokens.write", "rules.publish",
          "api_tokens.write", "devices.mark_lost"}

PERMISSIONS: dict[str, frozenset[str]] = {
    # nudge_reports.read: reported site names, for whoever maintains the category lists
    "security_admin": frozenset(_READ | _WRITE | {"cases.read", "cases.write",
                                                  "nudge_reports.read"}),
    "helpdesk": frozenset({"devices.read", "employees.read", "cases.read", "cases.write",
                           "signins.read"}),
    "auditor": frozenset(_READ | {"cases.read"}),
}


# Roles whose reads of employees, devices and sign-ins cover only employees with a case.
_CASE_SCOPED = frozenset({"helpdesk"})


def sees_only_case_employees(role: str | None) -> bool:
    """True if `role` may read only the employees who have a case (the help desk)."""
    return role in _CASE_SCOPED


def allowed(role: str | None, permission: str) -> bool:
    """True if `role` has `permission`."""
    return permission in PERMISSIONS.get(role or "", frozenset())


def require(role: str | None, permission: str) -> None:
    """Raise Forbidden unless `role` has `permission`."""
    if not allowed(role, permission):
        raise Forbidden(f"role {role or 'none'!r} may not {permission}")


def check_role(role: str) -> str:
    """`role` if it is a known role, else ValueError listing the valid ones."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role
