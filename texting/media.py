"""MMS media (Compose item 4): upload, sniffing, fitting images under the provider's
limit, signed expiring URLs for the provider, and the retention cleanup.

- The type comes from the bytes, never the name: Pillow identifies PNG/JPEG/GIF; MP4 by
  its `ftyp` box; MP3 by an ID3 tag or an MPEG audio frame sync; vCard by `BEGIN:VCARD`.
- Telnyx takes at most 10 media URLs per message and under 1 MB in all (telnyx.md §1):
  `MMS_MAX_BYTES`. Images over it are scaled down and recompressed with Pillow until
  they fit (an image without transparency becomes a JPEG); video, audio and vCards
  over it are refused with the sizes in the message.
- The provider fetches media from `PUBLIC_BASE_URL/m/<token>/<name>`, where the token
  is a `django.core.signing` signature over the media id and an expiry
  (`MMS_MEDIA_URL_SECONDS`); `media_for_token` refuses a forged or expired one.
- `media_cleanup` (beat, daily) deletes media older than `MMS_MEDIA_RETENTION_DAYS`
  (90) — files and rows — except what a scheduled, sending or paused campaign still
  uses. Safe to run twice.

Memory (issue 14: one 7,070×7,070 PNG cost the web process 380 MB, eight at once
3.3 GB). Images are fitted in the request, but bounded:
- the pixel count is read from the header (`Image.open` is lazy) and an image over
  `MMS_IMAGE_MAX_PIXELS` (25 megapixels) is refused before anything is decoded, except
  a JPEG, which is decoded at a reduced scale: a camera's photo of up to 8 times that
  is taken, as long as what is decoded stays under the limit; Pillow's own
  decompression-bomb limit is set to the JPEG limit and its warning is an error, so no
  other path decodes a bigger one either;
- the upload is checked against `MMS_UPLOAD_MAX_BYTES` by its size on disk before it
  is read (`media_upload_file`; Django streams uploads over 2.5 MB to a temporary file,
  and `config.bodylimit` refuses a request body over `REQUEST_MAX_BYTES` before Django
  reads it);
- at most `MMS_IMAGE_DECODES` images are decoded at once per process (the others wait
  their turn), and a JPEG is decoded straight at a reduced scale (`Image.draft`) when it
  has to be shrunk to no more than `FIT_MAX_SIDE` pixels anyway.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import time
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from PIL import Image, ImageSequence, UnidentifiedImageError

from accounts.models import Account

from .models import Campaign, CampaignStatus, Media, MediaKind, MessageTemplate

_SIGNER_SALT = "texting.media"
MAX_MEDIA_PER_MESSAGE = 10
_IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif"}
_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "audio/mpeg": "mp3",
    "text/vcard": "vcf",
}
SUPPORTED = "PNG, JPG, GIF, MP4, MP3 or vCard"


# Frames × width × height an image may have to be resized (about 50 frames at 1000×1000).
MAX_ANIMATION_PIXELS = 50_000_000
# An image that has to be shrunk for MMS is first brought to at most this many pixels on
# its long side (a phone shows an MMS picture far smaller); a JPEG is decoded at that
# scale directly.
FIT_MAX_SIDE = 2048

# A JPEG is decoded at 1/2, 1/4 or 1/8 scale when it will be shrunk anyway (`draft`,
# below), so a camera's 26-108 MP photo costs no more memory than a 25 MP PNG: JPEGs may
# have this many times MMS_IMAGE_MAX_PIXELS in their header.
JPEG_PIXEL_FACTOR = 8

# Pillow's own guard, for every path that opens an image in this process: over the
# limit it warns (made an error here), over twice the limit it refuses. It sits at the
# JPEG limit; check_pixels holds every other format to MMS_IMAGE_MAX_PIXELS from the
# header, before anything is decoded.
Image.MAX_IMAGE_PIXELS = settings.MMS_IMAGE_MAX_PIXELS * JPEG_PIXEL_FACTOR
warnings.simplefilter("error", Image.DecompressionBombWarning)
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)

# Images decoded at once in this process: a decoded image holds up to 4 bytes a pixel
# (100 MB at the pixel limit), so N requests at once must not mean N of them.
_decoding = threading.BoundedSemaphore(settings.MMS_IMAGE_DECODES)


class MediaError(Exception):
    """Bad upload; `field` names the input (API 400)."""

    def __init__(self, message: str, field: str = "file"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Sniffed:
    kind: str
    content_type: str
    size: tuple[int, int] | None = None  # an image's width and height, from its header


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.0f} KB"


def sniff(data: bytes) -> Sniffed | None:
    """What the bytes are (None: not a supported type), whatever the file is called."""
    head = data[:64]
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return Sniffed(MediaKind.VIDEO, "video/mp4")
    if head.startswith(b"ID3") or (len(head) > 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return Sniffed(MediaKind.AUDIO, "audio/mpeg")
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:11].upper() == b"BEGIN:VCARD":
        return Sniffed(MediaKind.VCARD, "text/vcard")
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header, decodes nothing
            fmt, size = image.format, image.size
    except _BOMB as exc:
        raise MediaError(_too_many_pixels(_bomb_pixels(exc))) from None
    except (UnidentifiedImageError, OSError):
        return None
    if fmt in _IMAGE_TYPES:
        return Sniffed(MediaKind.IMAGE, _IMAGE_TYPES[fmt], size)
    return None


def _too_many_pixels(pixels: int | None, *, jpeg: bool = False) -> str:
    limit = _pixel_limit(jpeg)
    found = f"has {pixels / 1_000_000:.1f} megapixels" if pixels else "is too large"
    kind = "JPEG photos" if jpeg else "images"
    return (
        f"This image {found}; {kind} may have at most {limit / 1_000_000:g} megapixels. "
        "Make it smaller and upload it again."
    )


def _pixel_limit(jpeg: bool) -> int:
    return settings.MMS_IMAGE_MAX_PIXELS * (JPEG_PIXEL_FACTOR if jpeg else 1)


def _bomb_pixels(exc: Exception) -> int | None:
    """The pixel count Pillow's decompression-bomb check names ("Image size (N pixels)
    exceeds limit ..."), when it refused an image before we could look at it."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    return int(found.group(1)) if found else None


def check_pixels(size: tuple[int, int], *, jpeg: bool = False) -> None:
    """Refuse an image over MMS_IMAGE_MAX_PIXELS (a JPEG: JPEG_PIXEL_FACTOR times that,
    since it is decoded at a reduced scale), by the size its header gives, before it is
    decoded."""
    if size[0] * size[1] > _pixel_limit(jpeg):
        raise MediaError(_too_many_pixels(size[0] * size[1], jpeg=jpeg))


def _encode(image: Image.Image, content_type: str, quality: int) -> bytes:
    out = io.BytesIO()
    if content_type == "image/gif":
        frames = [f.copy() for f in ImageSequence.Iterator(image)]
        frames[0].save(out, format="GIF", save_all=len(frames) > 1, append_images=frames[1:])
    elif content_type == "image/png":
        image.save(out, format="PNG", optimize=True)
    else:
        image.convert("RGB").save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()


def fit_image(data: bytes, content_type: str, *, limit: int) -> tuple[bytes, str]:
    """(bytes, content type) of the image under `limit` bytes: as uploaded when it fits;
    otherwise scaled down step by step and recompressed (JPEG unless it has
    transparency or is an animated GIF). Raises MediaError if even small it will not."""
    if len(data) < limit:
        return data, content_type
    with _decoding, Image.open(io.BytesIO(data)) as original:
        check_pixels(original.size, jpeg=original.format == "JPEG")
        if original.format == "JPEG" and max(original.size) > FIT_MAX_SIDE:
            # Decode at 1/2, 1/4 or 1/8 scale (the JPEG decoder does it for free) when
            # the picture will be shrunk below that anyway.
            original.draft("RGB", (FIT_MAX_SIDE, FIT_MAX_SIDE))
            # What will be decoded: a long, thin panorama may not shrink enough.
            check_pixels(original.size)
        # Every frame of an animation is decoded (and copied per attempt): refuse one
        # whose frames × pixels would take a worker's memory (Pillow's bomb check is per
        # frame).
        pixels = getattr(original, "n_frames", 1) * original.width * original.height
        if pixels > MAX_ANIMATION_PIXELS:
            raise MediaError(
                f"The animation has too many frames at that size to resize "
                f"({getattr(original, 'n_frames', 1):,} frames of "
                f"{original.width}×{original.height}); make it smaller or shorter."
            )
        original.load()
        animated = getattr(original, "is_animated", False)
        if not animated and max(original.size) > FIT_MAX_SIDE:
            original.thumbnail((FIT_MAX_SIDE, FIT_MAX_SIDE), Image.LANCZOS)
        transparent = original.mode in ("RGBA", "LA", "P") and (
            original.mode != "P" or "transparency" in original.info
        )
        target = content_type if animated or transparent else "image/jpeg"
        if target == "image/gif" and not animated:
            target = "image/png"
        scale, quality = 1.0, 85
        for _ in range(12):
            size = (max(1, int(original.width * scale)), max(1, int(original.height * scale)))
            if target == "image/gif":
                frames = [f.copy().resize(size) for f in ImageSequence.Iterator(original)]
                out = io.BytesIO()
                frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
                encoded = out.getvalue()
            else:
                encoded = _encode(original.resize(size, Image.LANCZOS), target, quality)
            if len(encoded) < limit:
                return encoded, target
            scale *= 0.75
            quality = max(60, quality - 5)
    raise MediaError(f"This image cannot be made smaller than {_mb(limit)} for MMS.")


def media_upload(
    *,
    account: Account,
    actor: AbstractBaseUser | None,
    data: bytes,
    name: str = "",
) -> Media:
    """Store an MMS attachment: sniffed, images fitted under MMS_MAX_BYTES. Raises
    MediaError (nothing stored) for an unsupported type or a file too large."""
    if not data:
        raise MediaError("The file is empty.")
    if len(data) > settings.MMS_UPLOAD_MAX_BYTES:
        raise MediaError(_too_big(len(data)))
    found = sniff(data)
    if found is None:
        raise MediaError(f"Unsupported file type: send a {SUPPORTED} file.")
    limit = settings.MMS_MAX_BYTES
    content_type = found.content_type
    if found.kind == MediaKind.IMAGE:
        if found.size is not None:
            check_pixels(found.size, jpeg=content_type == "image/jpeg")
        try:
            data, content_type = fit_image(data, content_type, limit=limit)
        except _BOMB as exc:
            raise MediaError(_too_many_pixels(_bomb_pixels(exc))) from exc
        except OSError as exc:
            raise MediaError("This image could not be read.") from exc
    elif len(data) >= limit:
        raise MediaError(
            f"This {found.kind} is {_mb(len(data))}; MMS allows under {_mb(limit)} per "
            "message. Shorten or compress it first."
        )
    digest = hashlib.sha256(data).hexdigest()
    media = Media(
        account=account,
        kind=found.kind,
        content_type=content_type,
        size=len(data),
        sha256=digest,
        original_name=(name or "")[:255],
        created_by=actor,
    )
    with transaction.atomic():
        media.file.save(f"{digest[:32]}.{_EXTENSIONS[content_type]}", ContentFile(data), save=False)
        media.save()
    return media


def media_upload_file(
    *, account: Account, actor: AbstractBaseUser | None, upload: UploadedFile
) -> Media:
    """`media_upload` for an uploaded file: its size (on disk for anything over Django's
    FILE_UPLOAD_MAX_MEMORY_SIZE) is checked against MMS_UPLOAD_MAX_BYTES before it is
    read into memory."""
    if upload.size is not None and upload.size > settings.MMS_UPLOAD_MAX_BYTES:
        raise MediaError(_too_big(upload.size))
    return media_upload(account=account, actor=actor, data=upload.read(), name=upload.name or "")


def _too_big(size: int) -> str:
    return f"The file is {_mb(size)}; uploads are limited to {_mb(settings.MMS_UPLOAD_MAX_BYTES)}."


def media_validate_ids(*, account: Account, media_ids: list[int]) -> list[int]:
    """The ids, deduplicated, if they are this account's media and fit one MMS (at most
    10, under MMS_MAX_BYTES in all); else MediaError naming `media_ids`."""
    ids = list(dict.fromkeys(media_ids))
    if len(ids) > MAX_MEDIA_PER_MESSAGE:
        raise MediaError(f"At most {MAX_MEDIA_PER_MESSAGE} attachments.", "media_ids")
    sizes = dict(Media.objects.filter(account=account, pk__in=ids).values_list("pk", "size"))
    missing = [i for i in ids if i not in sizes]
    if missing:
        raise MediaError(f"Not media of this account: {missing}.", "media_ids")
    total = sum(sizes.values())
    if total >= settings.MMS_MAX_BYTES:
        raise MediaError(
            f"The attachments add up to {_mb(total)}; MMS allows under "
            f"{_mb(settings.MMS_MAX_BYTES)} per message.",
            "media_ids",
        )
    return ids


def media_list(*, account: Account) -> QuerySet[Media]:
    return Media.objects.filter(account=account)


# --- Signed URLs ----------------------------------------------------------------------


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SIGNER_SALT, sep=".")


def media_token(media_id: int, *, ttl: float | None = None) -> str:
    expires = int(time.time() + (settings.MMS_MEDIA_URL_SECONDS if ttl is None else ttl))
    return _signer().sign(f"{media_id}-{expires}")


def media_url(media: Media, *, ttl: float | None = None, absolute: bool = True) -> str:
    """The signed URL of an attachment: absolute (PUBLIC_BASE_URL) for the provider, or
    a path for our own pages (it then works on whatever host serves them)."""
    ext = _EXTENSIONS.get(media.content_type, "bin")
    path = f"/m/{media_token(media.pk, ttl=ttl)}/{media.pk}.{ext}"
    return f"{settings.PUBLIC_BASE_URL}{path}" if absolute else path


def media_urls(media_ids: list[int] | None, *, absolute: bool = True) -> list[str]:
    """Signed URLs for a message's attachments (the dispatcher, per call)."""
    if not media_ids:
        return []
    media = Media.objects.filter(pk__in=media_ids).only("pk", "content_type")
    by_id = {m.pk: m for m in media}
    return [media_url(by_id[i], absolute=absolute) for i in media_ids if i in by_id]


def media_for_token(token: str) -> Media | None:
    """The media a signed token names, if the signature holds and it has not expired."""
    try:
        value = _signer().unsign(token)
    except signing.BadSignature:
        return None
    media_id, _, expires = value.partition("-")
    if not (media_id.isdigit() and expires.isdigit()) or int(expires) < time.time():
        return None
    return Media.objects.filter(pk=int(media_id)).first()


# --- Retention ------------------------------------------------------------------------

_IN_USE = (
    CampaignStatus.DRAFT,
    CampaignStatus.SCHEDULED,
    CampaignStatus.SENDING,
    CampaignStatus.PAUSED,
)


def media_cleanup(*, now=None) -> int:
    """Delete media older than MMS_MEDIA_RETENTION_DAYS (file, then row), except what a
    draft or unfinished campaign or a saved template still uses (a draft sent later, or
    a template inserted later, would otherwise go without its attachment). Returns how
    many."""
    now = now or timezone.now()
    cutoff = now - timezone.timedelta(days=settings.MMS_MEDIA_RETENTION_DAYS)
    in_use = {
        i
        for ids in Campaign.objects.filter(status__in=_IN_USE)
        .exclude(media_ids=[])
        .values_list("media_ids", flat=True)
        for i in ids
    }
    in_use |= {
        i
        for ids in MessageTemplate.objects.exclude(media_ids=[]).values_list("media_ids", flat=True)
        for i in ids or []
    }
    deleted = 0
    for media in Media.objects.filter(created_at__lt=cutoff).exclude(pk__in=in_use).iterator():
        media.file.delete(save=False)  # a missing file (an earlier run) is fine
        media.delete()
        deleted += 1
    return deleted
