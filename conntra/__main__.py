import sys

from conntra.cli import main

sys.exit(main())
