import sys

from vesselseg.cli import main

sys.exit(main())
