"""The package ships the portable edition's install script as package data
(session_store/portable.sql), copied at build time from the repository's
portable/session_store.sql (made by portable/build.sh): one source, never a
second copy in this tree.  An sdist carries the copy, so a wheel built from
it has it too.  Everything else is in pyproject.toml."""
import os

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_SCRIPT = os.path.join(HERE, "..", "..", "portable", "session_store.sql")
SDIST_SCRIPT = os.path.join("src", "session_store", "portable.sql")


def portable_script() -> str:
    for path in (REPO_SCRIPT, os.path.join(HERE, SDIST_SCRIPT)):
        if os.path.isfile(path):
            return path
    raise SystemExit("portable/session_store.sql is missing: run portable/build.sh "
                     "in the repository, then build the package again")


class BuildPy(build_py):
    def run(self):
        super().run()
        if not self.editable_mode:
            self.copy_file(portable_script(),
                           os.path.join(self.build_lib, "session_store", "portable.sql"))


class Sdist(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        self.copy_file(portable_script(), os.path.join(base_dir, SDIST_SCRIPT))


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
