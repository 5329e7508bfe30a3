"""pytest hooks that conformance/run puts beside python-pkcs11's own tests/.

Test order must not matter. The suite's TestCase opens and logs in a session
in setUp and closes it in tearDown, but unittest skips tearDown when setUp
fails (e.g. a key generation the token refuses): the session stays logged in
and every later test's C_Login then fails with CKR_USER_ALREADY_LOGGED_IN.
So after each test the library is finalized and initialized again
(python-pkcs11's own lib.reinitialize()): every test starts with no open
session and no login. The tests themselves are not changed.
"""

import os

import pytest


@pytest.fixture(autouse=True)
def _fresh_session_and_login_state():
    yield
    import pkcs11

    lib = pkcs11._loaded.get(os.environ["PKCS11_MODULE"])
    if lib is not None:
        lib.reinitialize()
