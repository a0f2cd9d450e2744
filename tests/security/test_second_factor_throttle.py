"""Wrong second-factor codes: guessing stays out of reach, and the owner is never shut out for
longer than the sign-in cool-off (issue 16, item 2).

Found by an audit: django-otp doubles a device's wait after each wrong code without end, so
someone who knows the password could keep the owner from signing in for days with twenty wrong
codes. The wait is now capped at the sign-in cool-off (AXES_COOLOFF_TIME, kap.accounts.mfa).

The clock is moved by hand (django.utils.timezone.now, which django-otp and the app read); the
codes themselves are of the real time, as the authenticator app shows them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.helpers import get_cool_off
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.security.support import totp_code

pytestmark = pytest.mark.django_db

WRONG = "000000"
RECOVERY_CODE = "a1b2c3d4e5"
CHECKED = "That code did not work"
REFUSED = "Too many wrong codes"


class Clock:
    def __init__(self):
        self.now = timezone.now()

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock


@pytest.fixture
def therapist(make_user):
    user = make_user("dr.lee@example.com", role="therapist")
    TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    static = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    StaticToken.objects.create(device=static, token=RECOVERY_CODE)
    return user


def device_of(user) -> TOTPDevice:
    return TOTPDevice.objects.get(user=user)


def signed_in_with_password(user, address: str = "203.0.113.5") -> Client:
    browser = Client(REMOTE_ADDR=address)
    browser.force_login(user)
    return browser


def send(browser: Client, code: str, address: str | None = None) -> tuple[bool, str]:
    """(whether the second factor was accepted, the page's text)"""
    sender = {"REMOTE_ADDR": address} if address else {}
    response = browser.post("/account/two-factor/", {"code": code, "next": "/care/"}, **sender)
    if response.status_code == 302:
        assert response["Location"] == "/care/"
        return True, ""
    assert response.status_code == 200
    return False, response.content.decode()


def right_code(user, kind: str) -> str:
    return totp_code(device_of(user)) if kind == "app" else RECOVERY_CODE


@pytest.mark.parametrize("kind", ["app", "recovery"])
def test_after_many_wrong_codes_the_right_code_works_once_the_cool_off_has_passed(
    therapist, clock, kind
):
    cool_off = get_cool_off()
    attacker = signed_in_with_password(therapist)
    # Someone with the password sends a wrong code each time one may be tried again, for hours
    # (uncapped, the 25th would make the owner wait 2**24 seconds: half a year).
    for _ in range(25):
        clock.advance(cool_off)
        accepted, page = send(attacker, WRONG)
        assert not accepted and CHECKED in page

    # The owner, from elsewhere: refused until a cool-off after the last wrong code (and told
    # why), then in.
    owner = signed_in_with_password(therapist, "198.51.100.7")
    clock.advance(cool_off - timedelta(seconds=1))
    accepted, page = send(owner, right_code(therapist, kind))
    assert not accepted and f"{REFUSED}. For your safety" in page and "1 minute." in page
    clock.advance(timedelta(seconds=1))
    assert send(owner, right_code(therapist, kind))[0]


def test_a_wait_doubled_past_the_cool_off_before_the_cap_ends_with_the_cool_off(therapist, clock):
    """A device left waiting for years by the uncapped doubling (40 wrong codes)."""
    for device in (device_of(therapist), StaticDevice.objects.get(user=therapist)):
        device.throttling_failure_count = 40
        device.throttling_failure_timestamp = timezone.now()
        device.save()
    clock.advance(get_cool_off())
    assert send(signed_in_with_password(therapist), totp_code(device_of(therapist)))[0]


def test_rapid_guessing_is_refused_for_the_account_from_any_address(therapist, clock):
    cool_off = get_cool_off()
    step, cool_offs = timedelta(minutes=1), 5
    # A code a minute for five cool-offs, each from a new address.
    attacker = signed_in_with_password(therapist)
    checked_at = []
    for n in range(cool_offs * int(cool_off / step)):
        accepted, page = send(attacker, WRONG, f"10.0.{n // 256}.{n % 256}")
        assert not accepted
        assert (CHECKED in page) != (REFUSED in page)
        if CHECKED in page:
            checked_at.append(clock.now)
        clock.advance(step)
    # Checked codes are 1, 2, 4, 8... seconds apart (here rounded up to the next minute), and
    # once the waits reach the cool-off, one per cool-off: 14 of the 75 sent with a cool-off of
    # 15 minutes, where a 6-digit code needs hundreds of thousands.
    gaps = [later - earlier for earlier, later in zip(checked_at, checked_at[1:], strict=False)]
    for n, gap in enumerate(gaps):
        wait = min(timedelta(seconds=2**n), cool_off)
        assert wait <= gap < wait + step
    ramp = 1 + len([n for n in range(len(gaps)) if 2**n < cool_off.total_seconds()])
    assert len(checked_at) <= ramp + cool_offs


def test_right_after_a_wrong_code_even_the_right_one_waits_a_second(therapist, clock):
    send(signed_in_with_password(therapist), WRONG)
    owner = signed_in_with_password(therapist, "198.51.100.7")
    accepted, page = send(owner, totp_code(device_of(therapist)))
    assert not accepted and REFUSED in page
    clock.advance(timedelta(seconds=1))
    assert send(owner, totp_code(device_of(therapist)))[0]


def test_the_set_up_code_is_capped_too(make_user, clock):
    admin = make_user("admin@example.com", role="admin")
    browser = signed_in_with_password(admin)
    browser.get("/account/two-factor/")
    device = TOTPDevice.objects.get(user=admin, confirmed=False)
    device.throttling_failure_count = 40
    device.throttling_failure_timestamp = timezone.now()
    device.save()
    page = browser.post("/account/two-factor/", {"code": totp_code(device), "next": "/"})
    assert REFUSED in page.content.decode()
    clock.advance(get_cool_off())
    page = browser.post("/account/two-factor/", {"code": totp_code(device), "next": "/"})
    assert "recovery" in page.content.decode().lower()
    device.refresh_from_db()
    assert device.confirmed
