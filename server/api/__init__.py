"""HTTP API: the agent protocol (`agent`), the admin API (`admin`, `admin_rules`) and operations
endpoints (`ops`). Routes are thin; logic lives in `server.services`."""
