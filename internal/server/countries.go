package server

import (
	"sort"
	"sync"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// country is one choice of the address forms' country selector.
type country struct {
	Code string // ISO 3166-1 alpha-2
	Name string // in the page's language
}

var (
	countriesOnce sync.Once
	countryLists  map[string][]country
)

// notAssigned are codes x/text still takes for countries that ISO 3166-1 no
// longer assigns (withdrawn: AN, CS, YU, ZR...; exceptionally or
// transitionally reserved: AC, EA, IC, TA, UK...; user-assigned: XK): no one
// should pick one for a new address.
var notAssigned = map[string]bool{
	"AC": true, "AN": true, "BU": true, "CP": true, "CQ": true, "CS": true, "CT": true, "DD": true, "DG": true,
	"DY": true, "EA": true, "EZ": true, "FQ": true, "FX": true, "HV": true, "IC": true, "JT": true, "MI": true,
	"NH": true, "NQ": true, "NT": true, "PC": true, "PU": true, "PZ": true, "RH": true, "SU": true, "TA": true,
	"TP": true, "UK": true, "UN": true, "VD": true, "WK": true, "XK": true, "YD": true, "YU": true, "ZR": true,
}

// countries returns the ISO 3166-1 countries, named in lang and sorted as
// that language sorts. Each is one the address check accepts
// (language.ParseRegion, IsCountry), so every choice is valid.
func countries(lang string) []country {
	countriesOnce.Do(func() {
		countryLists = map[string][]country{}
		for _, tag := range languages {
			base, _ := tag.Base()
			namer := display.Regions(tag)
			var list []country
			for a := 'A'; a <= 'Z'; a++ {
				for b := 'A'; b <= 'Z'; b++ {
					code := string([]rune{a, b})
					r, err := language.ParseRegion(code)
					if err != nil || !r.IsCountry() || r.String() != code || notAssigned[code] {
						continue
					}
					name := namer.Name(r)
					if name == "" {
						name = code
					}
					list = append(list, country{Code: code, Name: name})
				}
			}
			c := collate.New(tag)
			sort.SliceStable(list, func(i, j int) bool { return c.CompareString(list[i].Name, list[j].Name) < 0 })
			countryLists[base.String()] = list
		}
	})
	if l, ok := countryLists[lang]; ok {
		return l
	}
	return countryLists["en"]
}
