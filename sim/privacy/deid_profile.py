"""The two passes of the profile over one dataset tree (see :mod:`sim.privacy.deid`).

:class:`ProfileRun` first collects the identifying values that the profile
removes (:meth:`ProfileRun.collect`), then applies Table E.1-1 element by
element at every depth (:meth:`ProfileRun.apply`), and finally sets the
de-identification method attributes (:meth:`ProfileRun.mark`).

Every action is fitted to the attribute's Type in the IOD at its sequence
path (:mod:`sim.privacy.deid_iod`): what the IOD requires stays, with a dummy
(Type 1) or empty (Type 2); what it does not require may go.

**Sequences with action D** (Content, Person Identification Code, Operator
Identification, Verifying Observer, Graphic Annotation, ...) never keep an
original value: where the IOD lets the sequence go it is removed, where it
must be present it is emptied, where it needs a value it gets one dummy item
built from the first original item's skeleton (:meth:`ProfileRun.dummy_item`):
only the attributes the IOD requires at that path, each with a dummy of its
VR and multiplicity (nested sequences one dummy item again, UIDs replaced,
coded strings that the table does not list kept, since they are enumerated
terms such as Relationship Type that name structure, not people).

**Structured content** under Clean Structured Content (``C`` on Content,
Acquisition Context and Specimen Preparation Sequences) keeps the tree and
cleans every item at every depth (:meth:`ProfileRun.clean_structured`): text
and names become dummies, dates and times dummies (shifted under Modified
Dates, kept under Full Dates), UIDs replaced, codes kept only when their
coding scheme is a standard one (:data:`STANDARD_SCHEMES`) and they repeat no
identifying value, numbers and coded strings kept.
"""

from __future__ import annotations

from typing import Any

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from sim.privacy.deid_actions import (
    BINARY_VRS,
    PhiNeedles,
    UidMap,
    as_strings,
    base_vr,
    dummy_value,
    pseudonym,
    shift_date_value,
)
from sim.privacy.deid_iod import IodTypes
from sim.privacy.deid_model import ActionLog, DeidConfig
from sim.privacy.deid_table import (
    BASIC_PROFILE_CODE,
    OPTION_CODES,
    ProfileTable,
    load_table,
    resolve_for_type,
)

#: Text VRs that are searched for identifying values (CS is coded, not free text).
_SCRUB_VRS = frozenset({"AE", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
_DATE_VRS = frozenset({"DA", "DT"})
#: Bulk data never searched nor changed (pixel data must stay byte-identical).
_BULK_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010, 0x54001010})
_PATIENT_ID = 0x00100020
_META_PRIVATE = frozenset({0x00020100, 0x00020102})
#: Code Sequence Macro attributes (value, scheme, version, meaning, long and URN values).
_CODE_TAGS = frozenset({0x00080100, 0x00080102, 0x00080103, 0x00080104, 0x00080119,
                        0x00080120})
_SCHEME_TAG = 0x00080102
#: Coding schemes of PS3.16 Table 8-1 whose codes name concepts, never people or places
#: of a patient's care; codes of other (local, ``99``-prefixed) schemes are replaced.
STANDARD_SCHEMES = frozenset({
    "DCM", "SCT", "SRT", "SNM3", "LN", "UCUM", "FMA", "RADLEX", "NCIT", "NCIt", "ICD10",
    "I10", "ICD10CM", "I9C", "ICD9CM", "ICDO3", "ICD11", "MSH", "UMLS", "NCDR", "ACR", "BI",
    "ASTM-SIGPURPOSE", "ISO639_1", "ISO639_2", "ISO3166_1", "IEEE", "MDC", "HL7",
    "RXNORM", "NDC", "PUBCHEM_CID", "ITIS_TSN", "MGI", "UNII", "NEU", "CID", "DC", "SCPECG",
    "ATC", "LNC", "POS", "NBD", "NCI", "UMDNS", "ACR-TIRADS",
})
_UPPER_SCHEMES = frozenset(s.upper() for s in STANDARD_SCHEMES)
#: Prefix of the DICOM standard's own UIDs (SOP classes, transfer syntaxes, ...): not identifying.
_STANDARD_UID_PREFIX = "1.2.840.10008."
#: Modes of :meth:`ProfileRun.apply`: the table as it is, or structured content cleaned.
STRUCT = "struct"
_IDENTITY_SUFFIXES = ("ID", "IDs", "Name", "Names", "Address", "Number", "Numbers", "Locator")


def _tag_text(tag: int) -> str:
    """``(GGGG,EEEE)`` for a tag number."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _creator_name(value: Any) -> str:
    """A private creator's name, upper case (raw bytes when its VR was unknown)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return str(value).strip().rstrip("\x00").strip().upper()


def _identity_like(tag: int, vr: str) -> bool:
    """True for attributes whose values name or identify someone (searched inside text)."""
    if vr == "PN" or (tag >> 16) == 0x0010:
        return True
    return (keyword_for_tag(tag) or "").endswith(_IDENTITY_SUFFIXES)


class ProfileRun:
    """Applies the profile to one dataset tree (one file) with a shared UID map."""

    def __init__(self, config: DeidConfig, uid_map: UidMap, log: ActionLog,
                 types: IodTypes) -> None:
        """Prepare a run of ``config`` that maps UIDs with ``uid_map``, records into ``log``
        and keeps what the IOD typed by ``types`` requires."""
        self.config = config
        self.options = config.options
        self.table: ProfileTable = load_table()
        self.uid_map = uid_map
        self.log = log
        self.types = types
        self.needles = PhiNeedles()
        self.day_offset = 0
        self.patient_id = ""

    # -- first pass: what is identifying ------------------------------------
    def collect(self, ds: Dataset) -> None:
        """Record identifying values of ``ds`` (every depth) that the profile removes."""
        for elem in ds:
            vr = base_vr(elem.VR)
            if vr == "SQ":
                for item in elem.value or ():
                    self.collect(item)
                continue
            if elem.tag.is_private or elem.tag in _BULK_TAGS:
                continue
            rule = self.table.lookup(elem.tag)
            if rule is None or rule.action(self.options)[0] in ("K", "C"):
                continue
            for value in as_strings(elem.value):
                if vr == "UI":
                    if value.strip() and not value.startswith(_STANDARD_UID_PREFIX):
                        self.needles.uids.add(value.strip().rstrip("\x00"))
                elif vr in _DATE_VRS:
                    self.needles.add_date(value)
                elif vr in _SCRUB_VRS:
                    self.needles.add_text(value, identity=_identity_like(elem.tag, vr),
                                          person=vr == "PN")

    # -- second pass: apply ---------------------------------------------------
    def apply(self, ds: Dataset, prefix: str = "", kpath: tuple[str, ...] = (),
              mode: str = "") -> None:
        """Apply the profile to ``ds`` and, recursively, to every sequence item in it.

        ``kpath`` is the keyword path of the sequences ``ds`` sits in (for the
        IOD's Types); ``mode`` is :data:`STRUCT` inside structured content
        being cleaned (Clean Structured Content), empty otherwise.
        """
        tags = list(ds.keys())
        creators = {
            (t.group, t.element): _creator_name(ds[t].value)
            for t in tags
            if t.is_private and 0x10 <= t.element <= 0xFF
        }
        kept_blocks: set[tuple[int, int]] = set()
        for tag in tags:
            elem = ds[tag]
            path = prefix + _tag_text(tag)
            if tag.is_private:
                if 0x10 <= tag.element <= 0xFF:
                    continue  # creators are decided once their blocks are known
                if self._keep_private(ds, elem, creators, path, kpath):
                    kept_blocks.add((tag.group, tag.element >> 8))
                continue
            if tag.element == 0 and tag.group != 0x0002:
                del ds[tag]
                self.log.add(path, tag, "X")
                continue
            if tag in _META_PRIVATE:
                del ds[tag]
                self.log.add(path, tag, "X")
                continue
            if (tag.group & 0xFF01) == 0x6000 and "cleanGraphOpt" not in self.options:
                del ds[tag]
                self.log.add(path, tag, "X")
                continue
            self._public(ds, elem, path, kpath, mode)
        for (group, block), _name in creators.items():
            if (group, block) not in kept_blocks:
                ctag = BaseTag((group << 16) | block)
                del ds[ctag]
                self.log.add(prefix + _tag_text(ctag), ctag, "X")

    def _keep_private(
        self, ds: Dataset, elem: DataElement, creators: dict[tuple[int, int], str], path: str,
        kpath: tuple[str, ...],
    ) -> bool:
        """Keep a private element only when Retain Safe Private allows it; else remove it."""
        tag = elem.tag
        creator = creators.get((tag.group, tag.element >> 8)) if tag.element >= 0x1000 else None
        safe = (
            "rtnSafePrivOpt" in self.options
            and creator is not None
            and (creator, tag.element & 0xFF) in self.config.safe_private
            and not self._leaks(elem)
        )
        if safe:
            if base_vr(elem.VR) == "SQ":
                self._recurse(elem, path, kpath, "")
            self.log.add(path, tag, "C", "rtnSafePrivOpt")
            return True
        del ds[tag]
        self.log.add(path, tag, "X")
        return False

    def _leaks(self, elem: DataElement) -> bool:
        """True when ``elem`` carries an identifying value collected by :meth:`collect`."""
        vr = base_vr(elem.VR)
        if vr in BINARY_VRS:
            return isinstance(elem.value, bytes) and self.needles.leaks_bytes(elem.value)
        if vr == "UI":
            return any(v.strip() in self.needles.uids for v in as_strings(elem.value))
        if vr in _DATE_VRS:
            return any(self.needles.leaks_date(v) for v in as_strings(elem.value))
        return any(self.needles.leaks_text(v) for v in as_strings(elem.value))

    def _recurse(self, elem: DataElement, path: str, kpath: tuple[str, ...], mode: str) -> None:
        """Apply the profile to every item of the sequence ``elem``."""
        inner = (*kpath, elem.keyword) if elem.keyword else kpath
        for i, item in enumerate(elem.value or ()):
            self.apply(item, f"{path}[{i}]", inner, mode)

    def _public(self, ds: Dataset, elem: DataElement, path: str, kpath: tuple[str, ...],
                mode: str) -> None:
        """Apply the table action (or the unlisted-attribute rule) to a public element."""
        tag = elem.tag
        vr = base_vr(elem.VR)
        rule = self.table.lookup(tag)
        if rule is None:
            self._unlisted(ds, elem, path, kpath, vr, mode)
            return
        raw, option = rule.raw_action(self.options)
        required = self.types.required(kpath, elem.keyword) if elem.keyword else None
        action = resolve_for_type(raw, required)
        if tag == _PATIENT_ID and action == "Z" and elem.value:
            action = "D"  # Z allows a dummy: the keyed pseudonym keeps a patient's files together
        if vr == "SQ":
            action = self._sequence(ds, elem, path, kpath, action, option, required, mode)
        elif action == "X":
            del ds[tag]
        elif action == "Z":
            elem.value = elem.empty_value
        elif action == "D":
            elem.value = self._dummy(elem, vr)
        elif action == "U":
            elem.value = self._map_uids(elem.value) if vr == "UI" else self._dummy(elem, vr)
        elif action == "C":
            action = self._clean(elem, vr, option, mode)
        self.log.add(path, tag, action, option)

    def _sequence(self, ds: Dataset, elem: DataElement, path: str, kpath: tuple[str, ...],
                  action: str, option: str | None, required: str | None, mode: str) -> str:
        """Apply ``action`` to the sequence ``elem``; return the action actually taken."""
        if action == "D":  # a dummy: nothing original survives
            if required is None:
                action = "X"
            elif required == "present" or not elem.value:
                action = "Z"
            else:
                inner = (*kpath, elem.keyword)
                elem.value = Sequence([self.dummy_item(elem.value[0], inner)])
                return "D"
        if action == "X":
            del ds[elem.tag]
        elif action == "Z":
            elem.value = Sequence()
        elif action == "C" and option == "cleanStructContOpt":
            self._recurse(elem, path, kpath, STRUCT)
        else:
            self._recurse(elem, path, kpath, mode)
        return action

    def dummy_item(self, item: Dataset, kpath: tuple[str, ...]) -> Dataset:
        """A dummy item shaped like ``item``: only what the IOD requires at ``kpath``, no
        original value (see the module docstring)."""
        out = Dataset()
        for elem in item:
            tag = elem.tag
            if tag.is_private or tag.element == 0 or not elem.keyword:
                continue
            required = self.types.required(kpath, elem.keyword)
            if required is None:
                continue
            vr = base_vr(elem.VR)
            if required == "present":
                value: Any = Sequence() if vr == "SQ" else None
            elif vr == "SQ":
                inner = (*kpath, elem.keyword)
                value = Sequence([self.dummy_item(elem.value[0], inner)] if elem.value else [])
            elif vr == "UI":
                value = self._map_uids(elem.value)
            elif vr == "CS" and self.table.lookup(tag) is None and elem.value:
                value = elem.value  # enumerated terms (structure), not identifying
            else:
                value = self._dummy(elem, vr)
            out.add(DataElement(tag, elem.VR, value))
        return out

    def _dummy(self, elem: DataElement, vr: str) -> Any:
        """The D value of ``elem``: mapped UID, Patient ID pseudonym or VR dummy (one per
        original value, so the multiplicity stays valid)."""
        if vr == "UI":
            return self._map_uids(elem.value) if elem.value else self.uid_map.map(str(elem.tag))
        if elem.tag == _PATIENT_ID:
            return "PAT" + pseudonym(self.config.key, "patient-id", self.patient_id)
        if vr in BINARY_VRS or vr == "SQ":
            return dummy_value(vr)
        count = elem.VM if isinstance(elem.value, list | tuple | MultiValue) else 1
        value = dummy_value(vr)
        return [value] * count if count > 1 else value

    def _map_uids(self, value: Any) -> Any:
        """``value`` (one UID or several) with every UID mapped (the standard's own kept)."""
        values = as_strings(value)
        if not values:
            return value
        mapped = [v if v.startswith(_STANDARD_UID_PREFIX) else self.uid_map.map(v)
                  for v in values]
        return mapped[0] if len(mapped) == 1 else mapped

    def _shift_dates(self, elem: DataElement, vr: str) -> None:
        """Shift every DA/DT value of ``elem`` by the patient's offset (dummy if unparseable)."""
        out: list[str] = []
        for value in as_strings(elem.value):
            shifted = shift_date_value(vr, value, self.day_offset)
            out.append(dummy_value(vr) if shifted is None else shifted)
        if out:
            elem.value = out[0] if len(out) == 1 else out

    def _clean(self, elem: DataElement, vr: str, option: str | None, mode: str) -> str:
        """Clean one element; return the action to log (``C``)."""
        if vr in _DATE_VRS and option == "rtnLongModifDatesOpt":
            self._shift_dates(elem, vr)
        elif mode == STRUCT and elem.value and vr in (*_SCRUB_VRS, *_DATE_VRS, "TM"):
            if option != "rtnLongFullDatesOpt":
                elem.value = self._dummy(elem, vr)
        elif vr in _DATE_VRS:
            if self._leaks(elem):
                elem.value = self._dummy(elem, vr)
        elif vr == "UI":
            elem.value = self._map_uids(elem.value)
        elif vr in _SCRUB_VRS and self._leaks(elem):
            elem.value = self._dummy(elem, vr)
        return "C"

    def _unlisted(self, ds: Dataset, elem: DataElement, path: str, kpath: tuple[str, ...],
                  vr: str, mode: str) -> None:
        """A standard attribute the table does not list: keep it unless it repeats PHI
        (or, in structured content being cleaned, unless it can identify)."""
        tag = elem.tag
        if vr == "SQ":
            self._recurse(elem, path, kpath, mode)
            return
        if tag in _BULK_TAGS or ((tag >> 16) == 0x0002 and vr in BINARY_VRS):
            return
        if mode == STRUCT and self._clean_structured(ds, elem, path, vr):
            return
        if not self._leaks(elem):
            return
        if vr == "UI":
            elem.value = self._map_uids(elem.value)
            self.log.add(path, tag, "U")
        elif vr in _DATE_VRS:
            if "rtnLongModifDatesOpt" in self.options:
                self._shift_dates(elem, vr)
            else:
                elem.value = self._dummy(elem, vr)
            self.log.add(path, tag, "C")
        elif vr in BINARY_VRS:
            del ds[tag]
            self.log.add(path, tag, "X")
        else:
            elem.value = self._dummy(elem, vr)
            self.log.add(path, tag, "C")

    def _clean_structured(self, ds: Dataset, elem: DataElement, path: str, vr: str) -> bool:
        """Clean an unlisted element of structured content; True when it was handled."""
        tag = elem.tag
        if not elem.value:
            return False
        if vr == "UI":
            elem.value = self._map_uids(elem.value)
        elif vr in _DATE_VRS or vr == "TM":
            if "rtnLongFullDatesOpt" in self.options:
                return False
            if "rtnLongModifDatesOpt" in self.options and vr in _DATE_VRS:
                self._shift_dates(elem, vr)
            elif "rtnLongModifDatesOpt" not in self.options:
                elem.value = self._dummy(elem, vr)
            else:
                return False
        elif vr in _SCRUB_VRS:
            if tag in _CODE_TAGS and self._standard_code(ds):
                return False  # a concept of a standard scheme; still checked for PHI
            elem.value = self._dummy(elem, vr)
        else:
            return False
        self.log.add(path, tag, "C", "cleanStructContOpt")
        return True

    def _standard_code(self, item: Dataset) -> bool:
        """True when ``item`` is a coded entry of a standard scheme repeating no PHI."""
        scheme = item.get(_SCHEME_TAG)
        if scheme is None or str(scheme.value or "").strip().upper() not in _UPPER_SCHEMES:
            return False
        return not any(self._leaks(item[t]) for t in _CODE_TAGS if t in item)

    # -- method attributes ----------------------------------------------------
    def mark(self, ds: Dataset, cleaned_pixels: bool) -> None:
        """Set Patient Identity Removed and the de-identification method attributes."""
        codes = [BASIC_PROFILE_CODE]
        for opt, code in OPTION_CODES.items():
            if opt in self.options and (opt != "cleanPixelOpt" or cleaned_pixels):
                codes.append(code)
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = [meaning[:64] for _, meaning in codes]
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        if "rtnLongFullDatesOpt" in self.options:
            ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
        elif "rtnLongModifDatesOpt" in self.options:
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        else:
            ds.LongitudinalTemporalInformationModified = "REMOVED"
        if cleaned_pixels:
            ds.BurnedInAnnotation = "NO"
        for tag in (0x00120062, 0x00120063, 0x00120064, 0x00280303):
            self.log.add(_tag_text(tag), tag, "set")
