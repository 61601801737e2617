"""MMS media: type from the bytes, images fitted under the limit, signed expiring URLs,
the 90-day cleanup, and the provider receiving the URLs."""

import asyncio
import datetime
import io
import json
import os
import struct
import subprocess
import sys
import uuid
import zlib

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from providers.models import SimulatorMessage
from tests.factories import api_client, make_contact, make_member, make_number
from texting import dispatch
from texting.commit import campaign_commit
from texting.media import MediaError, media_cleanup, media_token, media_upload, media_url
from texting.models import Campaign, CampaignStatus, Media, Message, MessageTemplate
from texting.techcheck import campaign_tech_check

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.PUBLIC_BASE_URL = "http://testserver"


def _image(fmt: str, size=(40, 30), noise=False) -> bytes:
    if noise:  # random pixels do not compress: a big file from a modest image
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def _upload(api, name: str, data: bytes):
    return api.post("/api/v1/media/", {"file": SimpleUploadedFile(name, data)}, format="multipart")


@pytest.fixture
def composer(account):
    user = make_member(account, "manager")
    return api_client(user, account)


def test_the_type_comes_from_the_bytes_not_the_name(composer):
    response = _upload(composer, "photo.jpg", _image("GIF"))  # a GIF called .jpg
    assert response.status_code == 201, response.json()
    assert (response.json()["kind"], response.json()["content_type"]) == ("image", "image/gif")

    for name, data, kind, content_type in [
        ("clip.mov", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100, "video", "video/mp4"),
        ("song.bin", b"ID3\x04\x00" + b"\x00" * 100, "audio", "audio/mpeg"),
        (
            "card.txt",
            b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nEND:VCARD\r\n",
            "vcard",
            "text/vcard",
        ),
    ]:
        body = _upload(composer, name, data).json()
        assert (body["kind"], body["content_type"]) == (kind, content_type), name


def test_a_text_file_named_png_is_refused_naming_the_field(composer):
    response = _upload(composer, "logo.png", b"just some text, not an image")
    assert response.status_code == 400
    assert "Unsupported file type" in response.json()["file"][0]
    assert not Media.objects.exists()


def test_an_oversize_video_is_refused_with_the_sizes(composer, settings):
    settings.MMS_MAX_BYTES = 50_000
    response = _upload(composer, "big.mp4", b"\x00\x00\x00\x18ftypisom" + b"\x00" * 60_000)
    assert response.status_code == 400
    assert "MMS allows under 50 KB" in response.json()["file"][0]
    assert not Media.objects.exists()


def test_a_large_image_is_resized_to_fit_the_limit(account, settings):
    settings.MMS_MAX_BYTES = 60_000
    data = _image("PNG", size=(600, 400), noise=True)
    assert len(data) > 600_000
    media = media_upload(account=account, actor=None, data=data, name="rally.png")
    assert media.size < 60_000
    assert media.content_type == "image/jpeg"  # no transparency: recompressed as JPEG
    with media.file.open("rb") as handle:
        stored = handle.read()
    assert len(stored) == media.size
    assert Image.open(io.BytesIO(stored)).format == "JPEG"


def test_signed_urls_serve_the_file_until_they_expire(account, client):
    media = media_upload(account=account, actor=None, data=_image("PNG"), name="a.png")
    url = media_url(media).removeprefix("http://testserver")
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == media.file.open("rb").read()

    expired = f"/m/{media_token(media.pk, ttl=-5)}/x.png"
    assert client.get(expired).status_code == 404
    token = media_token(media.pk)
    other_id = token.replace(f"{media.pk}-", f"{media.pk + 1}-", 1)  # signature no longer fits
    assert client.get(f"/m/{other_id}/x.png").status_code == 404
    assert client.get(f"/m/{token[:-2]}xx/x.png").status_code == 404


def test_an_animation_too_big_to_resize_is_refused_before_it_is_decoded(account, settings):
    settings.MMS_MAX_BYTES = 1_000
    frames = [Image.new("P", (2000, 2000), i) for i in range(15)]  # 60 M pixels in all
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(MediaError, match="too many frames"):
        media_upload(account=account, actor=None, data=out.getvalue(), name="big.gif")
    assert not Media.objects.exists()


def test_cleanup_deletes_only_media_older_than_90_days_not_in_use(account):
    old = media_upload(account=account, actor=None, data=_image("PNG"), name="old.png")
    used = media_upload(account=account, actor=None, data=_image("GIF"), name="used.gif")
    drafted = media_upload(account=account, actor=None, data=_image("PNG"), name="d.png")
    saved = media_upload(account=account, actor=None, data=_image("PNG"), name="t.png")
    done = media_upload(account=account, actor=None, data=_image("PNG"), name="done.png")
    new = media_upload(account=account, actor=None, data=_image("JPEG"), name="new.jpg")
    long_ago = timezone.now() - datetime.timedelta(days=91)
    Media.objects.exclude(pk=new.pk).update(created_at=long_ago)
    Campaign.objects.create(
        account=account, name="Live", status=CampaignStatus.SENDING, media_ids=[used.pk]
    )
    Campaign.objects.create(account=account, name="Later", media_ids=[drafted.pk])  # a draft
    Campaign.objects.create(
        account=account, name="Sent", status=CampaignStatus.COMPLETED, media_ids=[done.pk]
    )
    MessageTemplate.objects.create(account=account, name="With a flyer", media_ids=[saved.pk])
    old_path = old.file.path

    # Gone: the unused one and the one only a finished campaign sent.
    assert media_cleanup() == 2
    assert set(Media.objects.values_list("pk", flat=True)) == {
        used.pk,
        drafted.pk,
        saved.pk,
        new.pk,
    }
    assert not os.path.exists(old_path)
    assert os.path.exists(new.file.path)
    assert media_cleanup() == 0


def test_campaign_media_ids_must_be_the_accounts(composer, account, other_account):
    theirs = media_upload(account=other_account, actor=None, data=_image("PNG"), name="t.png")
    response = composer.post(
        "/api/v1/campaigns/", {"name": "MMS", "media_ids": [theirs.pk]}, format="json"
    )
    assert response.status_code == 400
    assert "media_ids" in response.json()
    assert composer.get(f"/api/v1/media/{theirs.pk}/").status_code == 404


@pytest.mark.usefixtures("clean_dispatch_state")
def test_the_provider_receives_signed_media_urls_and_the_mms_price_is_estimated(account, settings):
    settings.MMS_PRICE = "0.0200"
    user = make_member(account, "manager")
    media = media_upload(account=account, actor=user, data=_image("PNG"), name="a.png")
    sender = make_number(account, f"+1971555{uuid.uuid4().int % 9000 + 1000:04d}", mps=50)
    contacts = [make_contact(account, f"+1503555{i:04d}") for i in range(300, 302)]
    campaign = Campaign.objects.create(
        account=account,
        created_by=user,
        name="MMS",
        body="See the flyer",
        media_ids=[media.pk],
        sender_ids=[sender.pk],
        audience={"contact_ids": [c.pk for c in contacts]},
    )
    assert str(campaign_tech_check(campaign=campaign).estimated_cost) == "0.0400"
    campaign_commit(campaign=campaign, actor=user)
    for _ in range(100):
        if not Message.objects.filter(status__in=["queued", "sending"]).exists():
            break
        dispatch.dispatch_sender(sender=sender.e164)
    sent = list(SimulatorMessage.objects.filter(to_number__in=[c.phone for c in contacts]))
    assert len(sent) == 2
    for item in sent:
        (url,) = item.media_urls
        assert url.startswith(f"http://testserver/m/{media.pk}-")


def test_the_tech_check_refuses_a_campaign_whose_attachment_is_gone(account):
    media = media_upload(account=account, actor=None, data=_image("PNG"), name="flyer.png")
    campaign = Campaign.objects.create(account=account, name="MMS", media_ids=[media.pk])
    (check,) = [c for c in campaign_tech_check(campaign=campaign).checks if c.name == "media"]
    assert check.ok
    media.delete()
    (check,) = [c for c in campaign_tech_check(campaign=campaign).checks if c.name == "media"]
    assert not check.ok and "no longer exist" in check.message and check.remediation


# --- Memory: pixel and size caps (issue 14) ---------------------------------------------


def _big_png(side: int = 7_070) -> bytes:
    """A real RGB PNG of side × side pixels, all black: about 150 MB decoded, 150 KB on
    disk. Written row by row with zlib, so making it allocates no image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * side)  # filter byte, then RGB
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


TOO_MANY_PIXELS = (
    "This image has 50.0 megapixels; images may have at most 25 megapixels. Make it "
    "smaller and upload it again."
)


def test_a_7070_pixel_png_is_refused_with_the_limit_and_nothing_is_stored(composer):
    data = _big_png()
    assert len(data) < 1_000_000  # small on disk: only its header says what it costs
    response = _upload(composer, "poster.png", data)
    assert response.status_code == 400
    assert response.json() == {"file": [TOO_MANY_PIXELS]}
    assert not Media.objects.exists()


_MEASURE = """
import json, resource, sys
import django
django.setup()
from texting.media import media_upload
data = sys.stdin.buffer.read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    media_upload(account=None, actor=None, data=data, name="poster.png")
    outcome = "accepted"
except Exception as exc:
    outcome = str(exc)
grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"outcome": outcome, "grew_kb": grew}))
"""


def test_a_7070_pixel_png_is_refused_before_it_is_decoded():
    """In a fresh process (peak memory is per process): refusing the image costs a few
    MB at most, not the 150 MB of decoding it. MMS_MAX_BYTES is low, so an image
    under the pixel limit would be decoded to be shrunk."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings", "MMS_MAX_BYTES": "10000"}
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE],
        input=_big_png(),
        capture_output=True,
        cwd=django_settings.BASE_DIR,
        env=env,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert result["outcome"] == TOO_MANY_PIXELS
    assert result["grew_kb"] < 10_000, result


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])  # a JPEG is decoded at a reduced scale
def test_a_big_photo_under_the_pixel_limit_is_still_resized(account, settings, fmt):
    settings.MMS_MAX_BYTES = 60_000
    settings.MMS_UPLOAD_MAX_BYTES = 40_000_000  # random pixels: the PNG is 35 MB
    data = _image(fmt, size=(4200, 2800), noise=True)  # 11.8 MP, 35 MB decoded
    media = media_upload(account=account, actor=None, data=data, name=f"wide.{fmt.lower()}")
    assert media.size < 60_000
    with media.file.open("rb") as handle:
        assert max(Image.open(handle).size) <= 2048  # brought to a phone's scale first


def test_a_file_over_the_upload_limit_is_refused_by_its_size(composer, settings):
    settings.MMS_UPLOAD_MAX_BYTES = 100_000
    response = _upload(composer, "clip.mp4", b"\x00\x00\x00\x18ftypisom" + b"\x00" * 200_000)
    assert response.status_code == 400
    assert response.json() == {"file": ["The file is 0.2 MB; uploads are limited to 0.1 MB."]}


def _asgi_post(path: str, headers: list[tuple[bytes, bytes]], chunks) -> tuple[dict, int]:
    """POST through the ASGI application uvicorn serves (config.asgi): the response
    (status, headers, body) and how many body chunks the server was asked for."""
    from config.asgi import application

    asked = 0
    sent: list[dict] = []

    async def receive():
        nonlocal asked
        asked += 1
        body = next(chunks, None)
        if body is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": body, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(application(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return {"status": start["status"], "headers": dict(start["headers"]), "body": body}, asked


def _endless(chunk: int = 1_000_000, most: int = 40):
    for _ in range(most):  # a guard: 40 MB at most, whatever happens
        yield b"\x00" * chunk
    raise AssertionError("the whole body was read")


@pytest.mark.parametrize("path", ["/api/v1/media/", "/conversations/1/reply/"])
def test_a_body_declared_over_the_cap_is_refused_before_it_is_read(path):
    response, asked = _asgi_post(
        path,
        [(b"content-length", b"500000000"), (b"content-type", b"multipart/form-data; boundary=x")],
        _endless(),
    )
    assert (response["status"], asked) == (413, 0)
    sentence = "The upload is 500.0 MB; a request may carry at most 25.0 MB. Send a smaller file."
    if path.startswith("/api/"):
        assert json.loads(response["body"]) == {"detail": sentence}
    else:
        assert response["body"].decode() == sentence


def test_a_chunked_body_is_cut_off_at_the_cap():
    response, asked = _asgi_post(
        "/api/v1/media/", [(b"content-type", b"multipart/form-data; boundary=x")], _endless()
    )
    assert response["status"] == 413
    assert json.loads(response["body"])["detail"].startswith(
        "The upload is larger than 25.0 MB; a request may carry at most 25.0 MB."
    )
    assert asked <= 26  # 25 MB read, not the rest


def test_a_26_megapixel_camera_photo_is_taken_and_fitted(account, settings):
    """A JPEG is decoded at a reduced scale, so a camera's photo over the 25 MP limit
    for other images (6240×4160, a 26 MP camera) is taken, not refused."""
    settings.MMS_MAX_BYTES = 10_000  # so it is decoded and shrunk
    data = _image("JPEG", size=(6240, 4160))
    media = media_upload(account=account, actor=None, data=data, name="rally.jpg")
    with media.file.open("rb") as handle:
        assert max(Image.open(handle).size) <= 2048


def test_a_jpeg_panorama_that_would_not_shrink_enough_is_refused(account, settings):
    """60,000×500: 30 MP that a reduced-scale decode cannot bring under 25 MP (its short
    side is already small), so it is refused by its header rather than decoded."""
    settings.MMS_MAX_BYTES = 10_000
    data = _image("JPEG", size=(60_000, 500))
    with pytest.raises(MediaError, match="megapixels"):
        media_upload(account=account, actor=None, data=data, name="pano.jpg")
    assert not Media.objects.exists()
