"""Persistence: SQLAlchemy 2 models (`models`), engine setup (`db`) and one module of query
functions per area (`employees`, `devices`, `notifications`, `rulesets`, `console`,
`api_tokens`, `audit`). Functions take a `Session` inside the caller's transaction and never
commit: the service decides what belongs in one transaction.
"""
