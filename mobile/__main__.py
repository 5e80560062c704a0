"""``python -m mobile``: start the technician app."""

from mobile.main import main

raise SystemExit(main())
