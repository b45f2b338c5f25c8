"""The built-in scorer's word lists: crypto-market cues and the words that modify them.

Weights are on a -3..+3 scale (3: a price crash, a hack, an all-time high; 1: a
mild hint such as a listing or a launch). They were written by hand from crypto
market usage and then adjusted by reading the scorer's mistakes on the
development half (even ``id``) of the CryptoLin headlines only; the odd half was
never looked at (see :mod:`edge.news.builtin`). Every word form is spelled out,
lowercased and without apostrophes (the tokenizer drops them: "isn't" is
``isnt``), so matching is a plain dict lookup.

Changing any weight or word here changes the scores: bump
``edge.news.builtin.VERSION`` with it.
"""

from __future__ import annotations


def _group(weight: float, words: str) -> dict[str, float]:
    return dict.fromkeys(words.split(), weight)


def _merge(*groups: dict[str, float]) -> dict[str, float]:
    """The groups as one table; a word given two weights is a mistake, caught at import."""
    merged: dict[str, float] = {}
    for group in groups:
        twice = merged.keys() & group.keys()
        if twice:
            raise ValueError(f"cue words with two weights: {sorted(twice)}")
        merged.update(group)
    return merged


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# --- Single-word cues -------------------------------------------------------------

PRICE_UP: dict[str, float] = _merge(
    _group(3.0, "soar soars soared soaring skyrocket skyrockets skyrocketed skyrocketing "
                "moon mooning parabolic"),
    _group(2.5, "surge surges surged surging rally rallies rallied rallying bullish skyhigh "
                "breakout"),
    _group(2.0, "jump jumps jumped jumping climb climbs climbed climbing spike spikes spiked "
                "rebound rebounds rebounded rebounding recover recovers recovered recovery "
                "outperform outperforms outperformed outperforming"),
    _group(1.5, "rise rises rose rising risen gain gains gained gaining pump pumps pumped "
                "pumping boost boosts boosted boosting upswing uptrend inflow inflows tops "
                "surpass surpasses surpassed"),
    _group(1.0, "higher highs"),
)
"""Price going up, in the market's own words (these also give a percentage its sign)."""

GOOD_NEWS: dict[str, float] = _merge(
    # Market mood and results.
    _group(2.0, "boom booming approve approves approved"),
    _group(1.5, "optimism optimistic profit profits profitable profitability win wins won "
                "winning success successful milestone milestones beat beats strong stronger "
                "strength bull bulls thrive thrives accumulate accumulates accumulating "
                "accumulation"),
    # Adoption, money coming in, deals: what crypto news treats as good news.
    _group(1.5, "adopt adopts adopted adoption embrace embraces embraced approval raise "
                "raises raised raising funding funded invest invests invested investment "
                "investments backs backed backing acquire acquires acquired acquisition buy "
                "buys bought buying purchase purchases purchased valuation valued unicorn "
                "partner partners partnered partnering partnership partnerships collaboration "
                "expand expands expanded expansion grow grows grew growth growing upgrade "
                "upgrades upgraded license licence licensed secures secured greenlight "
                "greenlights accepts accepting accept integrates integrate integrated "
                "integration record deal deals revenue revenues earn earns earned earning "
                "rewards opportunity opportunities great greatest better best safest rosy "
                "favor undervalued"),
    _group(1.0, "launch launches launched launching unveil unveils unveiled debut debuts "
                "debuted fund funds list lists listed listing listings support supports "
                "supported enable enables enabled allow allows allowed collaborate "
                "collaborates innovative innovation welcomes welcome positive hires joins "
                "onboard onboards bets crosses hits reaches introduce introduces introduced "
                "opens deploys deployed rollout improve improves improved adds add offers "
                "offering sign signs sponsor sponsors sponsorship donate donates donated "
                "orders explore explores exploring test tests testing trial trials pilot "
                "develops developing build builds building brings bringing commits nets"),
)
"""Good news that is not itself a price move."""

PRICE_DOWN: dict[str, float] = _merge(
    _group(-3.0, "crash crashes crashed crashing plunge plunges plunged plunging plummet "
                 "plummets plummeted plummeting collapse collapses collapsed collapsing rekt "
                 "capitulation bloodbath wipeout depeg depegs depegged"),
    _group(-2.5, "tumble tumbles tumbled tumbling slump slumps slumped slumping tank tanks "
                 "tanked tanking bearish selloff meltdown"),
    _group(-2.0, "drop drops dropped dropping fall falls fell falling fallen sink sinks sank "
                 "sinking slide slides slid sliding decline declines declined declining dump "
                 "dumps dumped dumping lose loses lost losing loss losses liquidation "
                 "liquidations liquidated outflow outflows downturn"),
    _group(-1.5, "dip dips dipped dipping slip slips slipped slipping weak weaker weakness "
                 "lower lows lowest low downtrend whipsaws discount shrinks"),
)
"""Price going down (these also give a percentage its sign)."""

BAD_NEWS: dict[str, float] = _merge(
    # Market mood.
    _group(-2.0, "panic"),
    _group(-1.5, "bear bears fear fears fud volatility"),
    # Theft, fraud and failure.
    _group(-3.0, "hack hacks hacked hacker hackers exploit exploits exploited exploiter "
                 "drained stolen steal steals stole theft scam scams scammer scammers "
                 "scammed fraud fraudulent ponzi rugpull bankrupt bankruptcy insolvent "
                 "insolvency indicted indictment"),
    _group(-2.5, "drain drains draining attacker attackers breach breached phishing "
                 "laundering launder laundered guilty convicted arrest arrests arrested "
                 "outage outages default defaults defaulted scandal delist delists delisted "
                 "delisting ban bans banned banning prohibit prohibits prohibited prohibition "
                 "crackdown ransomware"),
    _group(-2.0, "attack attacks vulnerability bug glitch illegal illicit sue sues sued "
                 "lawsuit lawsuits charges charged fine fines fined penalty penalties sanction "
                 "sanctions sanctioned subpoena probe probes investigation investigations "
                 "investigating investigates seize seizes seized seizure confiscate "
                 "confiscated halt halts halted suspend suspends suspended suspension freeze "
                 "freezes froze frozen shutdown shuts stoppage downtime reject rejects "
                 "rejected rejection warn warns warned warning warnings threat threats "
                 "threatens fail fails failed failure dangerous danger slams manipulation "
                 "fake accuses accused alleges alleged violation violations violated "
                 "blacklisted blacklist victims sentenced restrict restricts restricted "
                 "restriction restrictions layoffs regret woes surrenders uninvestable "
                 "destroys crushing mistake disappointing disappoints purge"),
    # Regulatory pressure and trouble.
    _group(-1.5, "deny denies denied delay delays delayed postpone postpones postponed punts "
                 "risk risks risky concern concerns concerned worry worries worried "
                 "uncertainty turmoil chaos struggle struggles struggling problem problems "
                 "bubble criticism criticizes critic critics oppose opposes controversy "
                 "controversial dispute complaint complaints complaining unregistered blocked "
                 "bars barred stop stops stopped tighter tighten tightening strict stricter "
                 "withdraws withdrew exit exits congestion pause pauses paused shut cracks "
                 "critiques fret frets dissolving wary clash negative overvalued abandon "
                 "abandons limit limits oversight"),
    _group(-1.0, "resigns resignation crime criminal enforcement remove removes fight against"),
    _group(-0.5, "regulator regulators regulatory tax taxes"),
)
"""Bad news that is not itself a price move: theft, failure, enforcement, regulation."""

CUES: dict[str, float] = _merge(PRICE_UP, GOOD_NEWS, PRICE_DOWN, BAD_NEWS)
"""Every single-word cue and its weight."""

# --- Multi-word cues (matched before the single words inside them) -----------------

PHRASES: dict[str, float] = {
    "all time high": 3.0,
    "all time highs": 3.0,
    "ath": 3.0,
    "record high": 3.0,
    "new high": 2.5,
    "new highs": 2.5,
    "to the moon": 3.0,
    "bull run": 2.5,
    "bull market": 2.5,
    "green light": 2.0,
    "legal tender": 1.0,
    "teams up": 1.5,
    "team up": 1.5,
    "lifts ban": 2.5,
    "lift ban": 2.5,
    "lifted ban": 2.5,
    "overturns ban": 2.5,
    "all time low": -3.0,
    "all time lows": -3.0,
    "record low": -3.0,
    "bear market": -2.5,
    "sell off": -2.0,
    "sells off": -2.0,
    "pump and dump": -3.0,
    "rug pull": -3.0,
    "rug pulled": -3.0,
    "ponzi scheme": -3.0,
    "files for bankruptcy": -3.0,
    "chapter 11": -3.0,
    "cease and desist": -2.5,
    "cracks down": -2.5,
    "crack down": -2.5,
    "shut down": -2.0,
    "shuts down": -2.0,
    "shutting down": -2.0,
    "steps down": -1.0,
    "step down": -1.0,
    "pulls out": -2.0,
    "lays off": -2.0,
    "stay away": -2.0,
    "wash trading": -2.0,
    "margin call": -2.0,
    "loses peg": -3.0,
    "cut off": -1.5,
    "take profit": 0.0,
    "stop loss": 0.0,
    "stop losses": 0.0,
    "short squeeze": 2.0,
    "record highs": 3.0,
    "goes live": 1.0,
    "go public": 1.5,
    "goes public": 1.5,
    "breaks above": 2.0,
    "shoots up": 2.5,
    "ticks up": 1.5,
    "ticking up": 1.5,
    "new rules": -1.5,
}
"""Multi-word cues, keyed by their space-joined tokens (a weight of 0 hides the words in it)."""

# --- Context: a cue weighs more next to the words that make it a market event -------

ETF = frozenset({"etf", "etfs", "etn", "etns", "etp", "etps"})
ENFORCERS = frozenset({"sec", "cftc", "doj", "fbi", "finra", "ftc", "irs", "treasury", "ofac"})
TENDER = frozenset({"legal"})

CONTEXT: dict[str, tuple[frozenset[str], float]] = {
    **dict.fromkeys(
        ("approve", "approves", "approved", "approval", "greenlight", "greenlights",
         "green light"), (ETF, 1.5)),
    **dict.fromkeys(
        ("reject", "rejects", "rejected", "rejection", "delay", "delays", "delayed",
         "postpone", "postpones", "postponed", "punts", "deny", "denies", "denied"),
        (ETF, 1.3)),
    **dict.fromkeys(
        ("sue", "sues", "sued", "lawsuit", "charges", "charged", "fine", "fines", "fined",
         "probe", "subpoena", "investigation", "investigating", "investigates", "accuses",
         "alleges"), (ENFORCERS, 1.3)),
    **dict.fromkeys(("adopt", "adopts", "adopted", "adoption", "accepts"), (TENDER, 1.5)),
}
"""cue → (context words, multiplier): "SEC approves spot ETF" outweighs "approves"."""

# --- Modifiers ----------------------------------------------------------------------

NEGATORS = _set(
    "not no never nor none cannot cant isnt arent wasnt werent doesnt dont didnt wont "
    "wouldnt shouldnt couldnt hasnt havent hadnt aint without lacks lack neither"
)
"""Words that flip the next cue within the negation window ("not bullish")."""

NEGATOR_PHRASES: frozenset[str] = frozenset(
    {"fails to", "failed to", "fail to", "no longer", "unable to", "rules out", "far from",
     "yet to"}
)

INTENSIFIERS: dict[str, float] = {
    "massive": 1.5, "massively": 1.5, "huge": 1.4, "enormous": 1.5, "major": 1.3,
    "big": 1.2, "bigger": 1.2, "biggest": 1.5, "largest": 1.4, "extremely": 1.6,
    "very": 1.3, "highly": 1.3, "sharply": 1.4, "sharp": 1.4, "significantly": 1.3,
    "significant": 1.3, "heavily": 1.3, "heavy": 1.2, "strongly": 1.3, "severely": 1.4,
    "severe": 1.4, "dramatically": 1.4, "dramatic": 1.4, "historic": 1.3,
    "unprecedented": 1.4, "steep": 1.4, "steeply": 1.4, "wildly": 1.4,
    "brutal": 1.5, "hefty": 1.3, "deep": 1.3, "deeply": 1.3, "further": 1.1,
    "slightly": 0.5, "slight": 0.5, "modestly": 0.6, "modest": 0.6, "somewhat": 0.6,
    "marginally": 0.5, "marginal": 0.5, "mildly": 0.6, "mild": 0.6, "minor": 0.6,
    "small": 0.7, "partially": 0.6, "partial": 0.6, "little": 0.6, "briefly": 0.7,
}
"""Multipliers for the next cue: above 1 strengthens ("massive hack"), below 1 weakens."""

CONTRAST = frozenset({"but", "however"})
"""What follows outweighs what came before ("dips, but recovers")."""

CONCESSIVE = frozenset({"despite", "although", "though", "notwithstanding"})
"""Cues in a concessive clause count for less ("rallies despite regulatory fears")."""

AMID = frozenset({"amid", "amidst"})
"""Cues after "amid" are background, not the news itself."""

CLAUSE_ENDS = frozenset({",", ";", ":", "!", "."})

MOVES_UP = frozenset({"up", "higher", "above"})
MOVES_DOWN = frozenset({"down", "lower", "below"})
"""Direction words for a percentage ("up 20%"); price-move cues count as direction too."""

PERCENT_WORDS = frozenset({"percent", "pct"})

INTERROGATIVES = _set(
    "how what why when where who which can could will would should is are does do did "
    "has have"
)
"""A headline opening with one of these is a question, rarely news with a direction."""

EXPLAINERS = _set(
    "explained explainer guide guides review recap outlook opinion analysis podcast "
    "interview introducing introduction tutorial overview primer lessons"
)
EXPLAINER_PHRASES = frozenset(
    {"a look", "heres why", "heres how", "here are", "what is", "layer by", "part 1",
     "part 2", "part 3", "a dive", "deep dive", "everything you", "you need"}
)
"""Feature, explainer and how-to headlines: their words rarely carry a market direction."""
