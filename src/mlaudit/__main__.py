import sys

from mlaudit.cli import main

sys.exit(main())
