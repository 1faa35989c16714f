"""A seeded generator of realistic Zeitgeist activity (docs/performance.md).

The distribution is the one TARGETS.md measured Zeitgeist with:

* 1-3 subjects per event, mean 1.57 (P = 0.55 / 0.33 / 0.12);
* 13 actors with Zipf weights (s = 1); each actor touches what it opens in
  real life (browsers and mail: web pages; eog and gimp: images; ...);
* 20,000 file URIs under ``file:///home/user/{Documents,Downloads,Music,
  Pictures,Projects,Videos,Desktop}`` with a folder structure, origin = the
  parent folder, a mimetype matching the extension, text = the file name;
* 10,000 web URIs on a few hundred sites (``https``, origin = the site,
  mimetype ``text/html``, text = the page title);
* URIs chosen with Zipf skew (s = 0.9 by default) over a random popularity
  order; extra subjects of one event mostly come from the same folder or site;
* distinct timestamps over a year, increasing in insertion order (or
  shuffled with ``shuffled=True``);
* event interpretations Access/Modify/Leave/Create/... weighted, a few
  MoveEvents (with ``current_uri``), manifestation mostly UserActivity;
* an event origin on some web visits (the referrer) and downloads; payloads
  on 0.5% of events.

Everything is a pure function of the seed: the same seed gives the same
events, in the same order, on every machine and Python version. The events
are what a client sends (ids 0, storage and current_uri left for the engine
to fill in), as ``zeitbus.model.Event`` values.

Use as a module (``from bench.generate import EventGenerator``) or run it to
print events as JSON lines: ``uv run python bench/generate.py --events 5``.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import random
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import msgspec

from zeitbus.model import Event, Subject
from zeitbus.ontology import NFO, ZG, interpretation_for_mimetype

# Bump when the output for a given seed changes (benchmark caches key on it).
GENERATOR_VERSION = 1

START_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
YEAR_MS = 365 * 24 * 3600 * 1000

FILE_DATA_OBJECT = NFO + "FileDataObject"
WEB_DATA_OBJECT = NFO + "WebDataObject"
WEBSITE = NFO + "Website"
HOME = "file:///home/user"

# Event interpretation -> weight. MoveEvent only happens to files (see _move).
INTERPRETATIONS: tuple[tuple[str, float], ...] = (
    (ZG + "AccessEvent", 0.55),
    (ZG + "ModifyEvent", 0.15),
    (ZG + "LeaveEvent", 0.14),
    (ZG + "CreateEvent", 0.07),
    (ZG + "ReceiveEvent", 0.025),
    (ZG + "SendEvent", 0.02),
    (ZG + "DeleteEvent", 0.02),
    (ZG + "MoveEvent", 0.005),
    (ZG + "AcceptEvent", 0.005),
    (ZG + "DenyEvent", 0.0025),
    (ZG + "ExpireEvent", 0.0025),
)
MANIFESTATIONS: tuple[tuple[str, float], ...] = (
    (ZG + "UserActivity", 0.85),
    (ZG + "HeuristicActivity", 0.08),
    (ZG + "ScheduledActivity", 0.04),
    (ZG + "SystemNotification", 0.02),
    (ZG + "WorldActivity", 0.01),
)
SUBJECT_COUNTS: tuple[tuple[int, float], ...] = ((1, 0.55), (2, 0.33), (3, 0.12))

# Actors in Zipf rank order, with the kinds of subject each one opens.
_ALL_FILES = frozenset(
    {"doc", "pdf", "sheet", "slides", "text", "code", "image", "music", "video", "archive"}
)
ACTORS: tuple[tuple[str, frozenset[str]], ...] = (
    ("application://firefox-esr.desktop", frozenset({"web"})),
    ("application://org.gnome.Nautilus.desktop", _ALL_FILES),
    ("application://code.desktop", frozenset({"code", "text"})),
    ("application://org.gnome.gedit.desktop", frozenset({"text", "code"})),
    ("application://libreoffice-writer.desktop", frozenset({"doc"})),
    ("application://org.gnome.eog.desktop", frozenset({"image"})),
    ("application://rhythmbox.desktop", frozenset({"music"})),
    ("application://org.gnome.Evince.desktop", frozenset({"pdf"})),
    ("application://chromium.desktop", frozenset({"web"})),
    ("application://org.gnome.Totem.desktop", frozenset({"video", "music"})),
    ("application://libreoffice-calc.desktop", frozenset({"sheet"})),
    ("application://thunderbird.desktop", frozenset({"web"})),
    ("application://gimp.desktop", frozenset({"image"})),
)

# extension -> (mimetype, kind)
EXTENSIONS: dict[str, tuple[str, str]] = {
    ".pdf": ("application/pdf", "pdf"),
    ".odt": ("application/vnd.oasis.opendocument.text", "doc"),
    ".docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "doc",
    ),
    ".ods": ("application/vnd.oasis.opendocument.spreadsheet", "sheet"),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "sheet"),
    ".csv": ("text/csv", "sheet"),
    ".odp": ("application/vnd.oasis.opendocument.presentation", "slides"),
    ".pptx": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "slides",
    ),
    ".txt": ("text/plain", "text"),
    ".md": ("text/markdown", "text"),
    ".py": ("text/x-python", "code"),
    ".c": ("text/x-csrc", "code"),
    ".h": ("text/x-chdr", "code"),
    ".rs": ("text/rust", "code"),
    ".js": ("application/javascript", "code"),
    ".json": ("application/json", "code"),
    ".toml": ("application/toml", "code"),
    ".sh": ("application/x-shellscript", "code"),
    ".html": ("text/html", "code"),
    ".css": ("text/css", "code"),
    ".jpg": ("image/jpeg", "image"),
    ".png": ("image/png", "image"),
    ".svg": ("image/svg+xml", "image"),
    ".xcf": ("image/x-xcf", "image"),
    ".mp3": ("audio/mpeg", "music"),
    ".flac": ("audio/flac", "music"),
    ".ogg": ("audio/ogg", "music"),
    ".mp4": ("video/mp4", "video"),
    ".mkv": ("video/x-matroska", "video"),
    ".webm": ("video/webm", "video"),
    ".zip": ("application/zip", "archive"),
    ".tar.gz": ("application/x-compressed-tar", "archive"),
    ".deb": ("application/vnd.debian.binary-package", "archive"),
    ".iso": ("application/x-cd-image", "archive"),
}

_WORD_TEXT = """
alpha amber anchor apple april arrow atlas autumn badge bamboo banner basil beacon
berry birch blue bolt border breeze bridge bronze budget cabin camera canyon carbon
cedar chart cherry cinder circle citrus cloud clover cobalt comet copper coral
cotton crane crystal dawn delta desert draft dune eagle echo ember engine falcon
fern field flame forest fossil frost galaxy garden garnet glacier globe granite
harbor hazel horizon indigo island ivory jade jasmine journal jungle kernel lagoon
lantern laser lemon letter linen lotus lunar maple marble meadow mercury meteor
mint mirror morning mosaic nectar needle nickel north novel oasis ocean olive onyx
orbit orchid pebble pepper pilot pine pixel planet plaza polar prism quartz radar
rain raven report ridge river rocket saffron sage salmon sapphire shadow signal
silver sketch slate solar spark spruce stone storm summit sunset thunder tide
timber topaz tower trail tulip tundra velvet vertex violet vista walnut willow
winter zenith
"""
WORDS = tuple(_WORD_TEXT.split())

TLDS = ("com", "org", "net", "io", "de", "fr", "co.uk", "dev")
BIG_SITES = (
    "github.com",
    "stackoverflow.com",
    "en.wikipedia.org",
    "www.youtube.com",
    "docs.python.org",
    "news.ycombinator.com",
    "mail.google.com",
    "www.reddit.com",
    "lwn.net",
    "www.debian.org",
    "developer.mozilla.org",
    "www.bbc.co.uk",
)


@dataclass(frozen=True, slots=True)
class Distribution:
    """The knobs of the generator; the defaults are TARGETS.md's data set."""

    file_uris: int = 20_000
    web_uris: int = 10_000
    sites: int = 300
    uri_zipf: float = 0.9
    actor_zipf: float = 1.0
    site_zipf: float = 1.0
    same_place: float = 0.7  # extra subjects from the first one's folder/site
    payload_rate: float = 0.005
    web_origin_rate: float = 0.25  # web visits with a referrer as event origin
    download_origin_rate: float = 0.3  # Downloads files with their source page
    folders: tuple[tuple[str, int], ...] = field(
        default=(
            ("Documents", 25),
            ("Downloads", 15),
            ("Music", 17),
            ("Pictures", 20),
            ("Projects", 17),
            ("Videos", 4),
            ("Desktop", 2),
        )
    )


@dataclass(frozen=True, slots=True)
class Resource:
    """One URI of the corpus, with the subject a client sends for it."""

    uri: str
    origin: str
    kind: str
    place: int  # folder or site index, for "same place" extra subjects
    subject: Subject


@dataclass(slots=True)
class _Picker:
    """Weighted choice over a fixed population, by bisection (fast, seeded)."""

    items: list[int]
    cumulative: list[float]

    @classmethod
    def of(cls, items: Sequence[int], weights: Sequence[float]) -> _Picker:
        return cls(list(items), list(itertools.accumulate(weights)))

    def pick(self, rng: random.Random) -> int:
        x = rng.random() * self.cumulative[-1]
        return self.items[bisect.bisect_right(self.cumulative, x)]


def _title(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize()


def _slug(rng: random.Random, words: int) -> str:
    return "-".join(rng.choice(WORDS) for _ in range(words))


def _pick_ext(rng: random.Random, weights: Sequence[tuple[str, float]]) -> str:
    exts = [ext for ext, _ in weights]
    return rng.choices(exts, [w for _, w in weights])[0]


_DOC_EXTS = (
    (".pdf", 30),
    (".odt", 15),
    (".docx", 10),
    (".txt", 15),
    (".md", 8),
    (".ods", 8),
    (".xlsx", 5),
    (".odp", 4),
    (".pptx", 2),
    (".csv", 3),
)
_DOWNLOAD_EXTS = (
    (".pdf", 25),
    (".zip", 15),
    (".jpg", 10),
    (".png", 10),
    (".deb", 5),
    (".iso", 2),
    (".tar.gz", 8),
    (".mp4", 3),
    (".docx", 7),
    (".xlsx", 5),
    (".txt", 5),
    (".mp3", 5),
)
_CODE_EXTS = (
    (".py", 30),
    (".c", 10),
    (".h", 6),
    (".rs", 10),
    (".js", 10),
    (".json", 8),
    (".md", 8),
    (".toml", 4),
    (".sh", 5),
    (".html", 5),
    (".css", 4),
)


def _folder_files(top: str, count: int, rng: random.Random) -> Iterator[tuple[str, str]]:
    """(folder path under HOME, file name) pairs for one top-level folder."""
    if top == "Documents":
        subs = [
            "",
            "Work",
            "Work/Reports",
            "Work/Meetings",
            "Personal",
            "Taxes/2023",
            "Taxes/2024",
            "Taxes/2025",
            "Receipts",
            "Notes",
            "Letters",
            "Recipes",
            "School",
            "Travel",
            "Manuals",
            "Contracts",
            "Bank",
        ]
        for _ in range(count):
            yield (
                f"Documents/{rng.choice(subs)}".rstrip("/"),
                _slug(rng, rng.randint(1, 3)) + _pick_ext(rng, _DOC_EXTS),
            )
    elif top == "Downloads":
        subs = ["", "", "", "", "Telegram Desktop", "Firefox"]
        for _ in range(count):
            yield (
                f"Downloads/{rng.choice(subs)}".rstrip("/"),
                _slug(rng, rng.randint(1, 3)) + _pick_ext(rng, _DOWNLOAD_EXTS),
            )
    elif top == "Music":
        artists = [_title(rng, 2).title() for _ in range(150)]
        albums = [(a, _title(rng, rng.randint(1, 3))) for a in artists for _ in range(3)]
        for _ in range(count):
            artist, album = rng.choice(albums)
            ext = _pick_ext(rng, ((".mp3", 60), (".flac", 30), (".ogg", 10)))
            name = f"{rng.randint(1, 16):02d} - {_title(rng, rng.randint(1, 4))}{ext}"
            yield f"Music/{artist}/{album}", name
    elif top == "Pictures":
        camera = [f"Camera/{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)]
        holidays = [f"Holidays/{_title(rng, 1)} {y}" for y in (2023, 2024, 2025) for _ in (1, 2)]
        subs = [*camera, *holidays, "Screenshots", "Wallpapers", "Scans", ""]
        for _ in range(count):
            sub = rng.choice(subs)
            if sub.startswith(("Camera", "Holidays")):
                name = f"IMG_{rng.randint(1000, 99999)}.jpg"
            elif sub == "Screenshots":
                name = (
                    f"Screenshot from 2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                    f" {rng.randint(0, 23):02d}-{rng.randint(0, 59):02d}"
                    f"-{rng.randint(0, 59):02d}.png"
                )
            else:
                name = _slug(rng, 2) + _pick_ext(
                    rng, ((".jpg", 50), (".png", 30), (".svg", 10), (".xcf", 10))
                )
            yield f"Pictures/{sub}".rstrip("/"), name
    elif top == "Projects":
        projects = [_slug(rng, 2) for _ in range(30)]
        for _ in range(count):
            project = rng.choice(projects)
            sub = rng.choice(["", "src", "src", f"src/{rng.choice(WORDS)}", "tests", "docs"])
            yield (
                f"Projects/{project}/{sub}".rstrip("/"),
                rng.choice(WORDS) + _pick_ext(rng, _CODE_EXTS),
            )
    elif top == "Videos":
        subs = ["", "Recordings", "Movies", *[f"Series/{_title(rng, 2)}" for _ in range(8)]]
        for _ in range(count):
            ext = _pick_ext(rng, ((".mp4", 50), (".mkv", 40), (".webm", 10)))
            yield f"Videos/{rng.choice(subs)}".rstrip("/"), _slug(rng, 3) + ext
    else:
        exts = ((".txt", 20), (".pdf", 20), (".png", 20), (".jpg", 10), (".odt", 10), (".sh", 5))
        for _ in range(count):
            yield top, _slug(rng, rng.randint(1, 2)) + _pick_ext(rng, exts)


def _extension(name: str) -> str:
    return ".tar.gz" if name.endswith(".tar.gz") else name[name.rfind(".") :]


def _zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


class Corpus:
    """The URIs, actors and pickers of one seed (built once, shared)."""

    def __init__(self, seed: int, dist: Distribution) -> None:
        rng = random.Random(f"zeitbus-corpus-{seed}")
        self.dist = dist
        self.files = self._files(rng, dist)
        self.web = self._web(rng, dist)
        self.resources: list[Resource] = [*self.files, *self.web]
        # Zipf popularity over a random order, separately for files and pages.
        weights = [0.0] * len(self.resources)
        for group in (range(len(self.files)), range(len(self.files), len(self.resources))):
            order = list(group)
            rng.shuffle(order)
            for index, w in zip(order, _zipf_weights(len(order), dist.uri_zipf), strict=True):
                weights[index] = w
        self.weights = weights
        self.by_place: dict[int, list[int]] = {}
        for index, resource in enumerate(self.resources):
            self.by_place.setdefault(resource.place, []).append(index)
        self.actor_picker = _Picker.of(
            range(len(ACTORS)), _zipf_weights(len(ACTORS), dist.actor_zipf)
        )
        self.actor_pickers = []
        for _actor, kinds in ACTORS:
            members = [i for i, r in enumerate(self.resources) if r.kind in kinds]
            self.actor_pickers.append(_Picker.of(members, [weights[i] for i in members]))
        self.web_picker = _Picker.of(
            range(len(self.files), len(self.resources)), weights[len(self.files) :]
        )

    @staticmethod
    def _files(rng: random.Random, dist: Distribution) -> list[Resource]:
        total = sum(share for _, share in dist.folders)
        seen: set[str] = set()
        places: dict[str, int] = {}
        out: list[Resource] = []
        for n, (top, share) in enumerate(dist.folders):
            count = (
                dist.file_uris - len(out)
                if n == len(dist.folders) - 1
                else dist.file_uris * share // total
            )
            for folder, name in _folder_files(top, count, rng):
                uri = f"{HOME}/{folder}/{name}"
                stem, ext = name[: -len(_extension(name))], _extension(name)
                bump = 1
                while uri in seen:
                    bump += 1
                    name = f"{stem} ({bump}){ext}"
                    uri = f"{HOME}/{folder}/{name}"
                seen.add(uri)
                mimetype, kind = EXTENSIONS[ext]
                origin = f"{HOME}/{folder}"
                place = places.setdefault(origin, len(places))
                subject = Subject(
                    uri=uri,
                    interpretation=interpretation_for_mimetype(mimetype),
                    manifestation=FILE_DATA_OBJECT,
                    origin=origin,
                    mimetype=mimetype,
                    text=name,
                )
                out.append(Resource(uri, origin, kind, place, subject))
        return out

    @staticmethod
    def _web(rng: random.Random, dist: Distribution) -> list[Resource]:
        sites = list(BIG_SITES)
        while len(sites) < dist.sites:
            name = f"{rng.choice(WORDS)}{rng.choice(['', '-', ''])}{rng.choice(WORDS)}"
            site = f"www.{name}.{rng.choice(TLDS)}" if rng.random() < 0.5 else f"{name}.com"
            if site not in sites:
                sites.append(site)
        names = {site: _title(rng, 1) for site in sites}
        site_picker = _Picker.of(range(len(sites)), _zipf_weights(len(sites), dist.site_zipf))
        first_place = 1_000_000  # web "places" never collide with folder places
        seen: set[str] = set()
        out: list[Resource] = []
        while len(out) < dist.web_uris:
            site_index = site_picker.pick(rng)
            site = sites[site_index]
            shape = rng.random()
            if shape < 0.4:
                path = f"/{rng.choice(WORDS)}/{_slug(rng, rng.randint(2, 5))}"
            elif shape < 0.7:
                path = (
                    f"/{rng.choice(['questions', 'item', 'post', 'p'])}/{rng.randint(1, 999_999)}"
                )
                path += f"/{_slug(rng, rng.randint(2, 4))}" if rng.random() < 0.5 else ""
            elif shape < 0.85:
                path = f"/wiki/{_title(rng, rng.randint(1, 3)).replace(' ', '_')}"
            else:
                path = f"/search?q={'+'.join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))}"
            uri = f"https://{site}{path}"
            if uri in seen:
                continue
            seen.add(uri)
            origin = f"https://{site}/"
            title = f"{_title(rng, rng.randint(2, 7))} - {names[site]}"
            subject = Subject(
                uri=uri,
                interpretation=WEBSITE,
                manifestation=WEB_DATA_OBJECT,
                origin=origin,
                mimetype="text/html",
                text=title,
            )
            out.append(Resource(uri, origin, "web", first_place + site_index, subject))
        return out


@lru_cache(maxsize=4)
def corpus(seed: int = 0, dist: Distribution = Distribution()) -> Corpus:
    """The corpus of ``seed`` (cached: building it takes a fraction of a second)."""
    return Corpus(seed, dist)


class EventGenerator:
    """An endless, deterministic stream of events for one seed.

    ``total`` sets the mean gap between timestamps, so that ``total`` events
    span ``span_ms`` (a year) from ``start_ms``; events after ``total`` go on
    at the same pace. Different ``stream`` numbers give independent streams
    over the same corpus (the same URIs and actors).
    """

    def __init__(
        self,
        seed: int = 0,
        total: int = 100_000,
        *,
        stream: int = 0,
        start_ms: int = START_MS,
        span_ms: int = YEAR_MS,
        dist: Distribution = Distribution(),
    ) -> None:
        self.corpus = corpus(seed, dist)
        self.dist = dist
        self.rng = random.Random(f"zeitbus-events-{seed}-{stream}")
        self.timestamp = start_ms
        self.mean_gap = max(1.0, span_ms / max(1, total))
        self.count = 0
        self._interp = _Picker.of(range(len(INTERPRETATIONS)), [w for _, w in INTERPRETATIONS])
        self._manif = _Picker.of(range(len(MANIFESTATIONS)), [w for _, w in MANIFESTATIONS])
        self._nsubj = _Picker.of([n for n, _ in SUBJECT_COUNTS], [w for _, w in SUBJECT_COUNTS])

    def __iter__(self) -> Iterator[Event]:
        while True:
            yield self.next()

    def take(self, n: int) -> list[Event]:
        """The next ``n`` events."""
        return [self.next() for _ in range(n)]

    def next(self) -> Event:
        """The next event of the stream."""
        rng, c = self.rng, self.corpus
        # Distinct, increasing: at least 1 ms apart, exponential gaps on top.
        self.timestamp += 1 + int(rng.expovariate(1.0 / max(self.mean_gap - 1.0, 1e-9)))
        self.count += 1
        actor_index = c.actor_picker.pick(rng)
        actor, _kinds = ACTORS[actor_index]
        picker = c.actor_pickers[actor_index]
        first = picker.pick(rng)
        chosen = [first]
        wanted = self._nsubj.pick(rng)
        tries = 0
        while len(chosen) < wanted and tries < 20:
            tries += 1
            if rng.random() < self.dist.same_place:
                candidate = rng.choice(c.by_place[c.resources[first].place])
                if c.resources[candidate].kind != c.resources[first].kind and rng.random() < 0.5:
                    continue
            else:
                candidate = picker.pick(rng)
            if candidate not in chosen:
                chosen.append(candidate)
        resources = [c.resources[i] for i in chosen]
        interpretation = INTERPRETATIONS[self._interp.pick(rng)][0]
        is_web = resources[0].kind == "web"
        if interpretation == ZG + "MoveEvent" and is_web:
            interpretation = ZG + "AccessEvent"
        if interpretation == ZG + "MoveEvent":
            subjects = tuple(self._moved(r) for r in resources)
        else:
            subjects = tuple(r.subject for r in resources)
        # A referrer for web visits, the source page for downloads.
        origin_rate = 0.0
        if is_web:
            origin_rate = self.dist.web_origin_rate
        elif resources[0].origin.startswith(HOME + "/Downloads"):
            origin_rate = self.dist.download_origin_rate
        origin = ""
        if origin_rate and rng.random() < origin_rate:
            origin = c.resources[c.web_picker.pick(rng)].uri
        payload = b""
        if rng.random() < self.dist.payload_rate:
            payload = rng.randbytes(rng.randint(16, 512))
        return Event(
            timestamp=self.timestamp,
            interpretation=interpretation,
            manifestation=MANIFESTATIONS[self._manif.pick(rng)][0],
            actor=actor,
            origin=origin,
            subjects=subjects,
            payload=payload,
        )

    def _moved(self, resource: Resource) -> Subject:
        """The subject of a MoveEvent: the file goes to ~/Archive/<same path>."""
        relative = resource.uri[len(HOME) + 1 :]
        current_uri = f"{HOME}/Archive/{relative}"
        return Subject(
            uri=resource.uri,
            interpretation=resource.subject.interpretation,
            manifestation=resource.subject.manifestation,
            origin=resource.origin,
            mimetype=resource.subject.mimetype,
            text=resource.subject.text,
            current_uri=current_uri,
            current_origin=current_uri[: current_uri.rfind("/")],
        )


def generate_events(
    count: int,
    seed: int = 0,
    *,
    shuffled: bool = False,
    dist: Distribution = Distribution(),
) -> Iterator[Event]:
    """``count`` events spanning a year; timestamps increase unless ``shuffled``.

    Shuffled order is the same events (same timestamps) in a seeded random
    insertion order; it holds them all in memory.
    """
    stream = EventGenerator(seed, count, dist=dist)
    if not shuffled:
        for _ in range(count):
            yield stream.next()
        return
    events = stream.take(count)
    random.Random(f"zeitbus-shuffle-{seed}").shuffle(events)
    yield from events


def batched(events: Iterable[Event], size: int) -> Iterator[list[Event]]:
    """Consecutive lists of ``size`` events (the last one may be shorter)."""
    iterator = iter(events)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def event_to_json(event: Event) -> dict[str, object]:
    """A JSON-friendly dict of an event (payload as hex)."""
    out = msgspec.structs.asdict(event)
    out["subjects"] = [msgspec.structs.asdict(s) for s in event.subjects]
    out["payload"] = event.payload.hex()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Print generated events as JSON lines, or a summary with ``--stats``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shuffled", action="store_true")
    parser.add_argument("--stats", action="store_true", help="print distribution statistics")
    args = parser.parse_args(argv)
    events = generate_events(args.events, args.seed, shuffled=args.shuffled)
    if not args.stats:
        for event in events:
            sys.stdout.write(json.dumps(event_to_json(event)) + "\n")
        return 0
    subjects = 0
    actors: dict[str, int] = {}
    uris: set[str] = set()
    texts: set[str] = set()
    origins: set[str] = set()
    interpretations: dict[str, int] = {}
    payloads = 0
    last = None
    increasing = True
    n = 0
    for event in events:
        n += 1
        subjects += len(event.subjects)
        actors[event.actor] = actors.get(event.actor, 0) + 1
        name = event.interpretation.rsplit("#", 1)[-1]
        interpretations[name] = interpretations.get(name, 0) + 1
        payloads += bool(event.payload)
        if event.origin:
            origins.add(event.origin)
        for s in event.subjects:
            uris.add(s.uri)
            texts.add(s.text)
            origins.add(s.origin)
        if last is not None and event.ts <= last:
            increasing = False
        last = event.ts
    print(f"events {n}, subjects/event {subjects / max(n, 1):.3f}, payloads {payloads}")
    print(f"distinct subject uris {len(uris)}, texts {len(texts)}, origins {len(origins)}")
    print(f"timestamps strictly increasing: {increasing}")
    for actor, count in sorted(actors.items(), key=lambda kv: -kv[1]):
        print(f"  {count / n:6.1%}  {actor}")
    for name, count in sorted(interpretations.items(), key=lambda kv: -kv[1]):
        print(f"  {count / n:6.1%}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
