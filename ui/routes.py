"""Page files, named once: the entry script registers them and pages link to them."""

from __future__ import annotations

WELCOME = "ui/pages/welcome.py"
ONBOARDING = "ui/pages/onboarding.py"
FOR_YOU = "ui/pages/for_you.py"
SEARCH = "ui/pages/search.py"
WATCHLIST = "ui/pages/watchlist.py"
PROFILE = "ui/pages/profile.py"
ABOUT_MODEL = "ui/pages/about_model.py"
