# cffi's cffi_modules cannot be declared in pyproject.toml yet (python-cffi/cffi#55).
from setuptools import setup

setup(cffi_modules=["refquant/kernel/_build.py:ffi"])
