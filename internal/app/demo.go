package app

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/staff"
)

// demoSetting marks a database that `serve --demo` filled: a later
// `serve --demo` on it starts without adding anything, while a database
// with real data (customers or staff and no mark) is refused.
const demoSetting = "demo"

// demoPerson is one demo customer: invented names, numbers and addresses
// (reserved example.com/.org/.net domains), in Spanish and English.
type demoPerson struct {
	email, name, lang string
	phoneLabel, phone string
	address           resguardo.Address
	totp              bool
}

var demoPeople = []demoPerson{
	{"maria.garcia@example.com", "María José García Fernández", "es", "móvil", "+34 612 345 678",
		resguardo.Address{Label: "casa", Line1: "Calle de Alcalá 42", Line2: "3.º B", City: "Madrid", Region: "Madrid", PostalCode: "28014", Country: "ES"}, true},
	{"john.smith@example.org", "John Smith", "en", "mobile", "+44 7911 123456",
		resguardo.Address{Label: "home", Line1: "12 Acacia Avenue", City: "London", PostalCode: "NW1 6XE", Country: "GB"}, false},
	{"jose.pena@example.net", "José Luis Peña Núñez", "es", "trabajo", "+52 55 1234 5678",
		resguardo.Address{Label: "oficina", Line1: "Avenida Insurgentes Sur 1602", Line2: "Piso 4", City: "Ciudad de México", Region: "CDMX", PostalCode: "03940", Country: "MX"}, false},
	{"emily.johnson@example.com", "Emily Johnson", "en", "mobile", "+1 415 555 2671",
		resguardo.Address{Label: "home", Line1: "500 Market Street", Line2: "Apt 12", City: "San Francisco", Region: "CA", PostalCode: "94105", Country: "US"}, true},
	{"lucia.martin@example.org", "Lucía Martín Ruiz", "es", "casa", "+34 933 123 456",
		resguardo.Address{Label: "casa", Line1: "Passeig de Gràcia 92", City: "Barcelona", Region: "Cataluña", PostalCode: "08008", Country: "ES"}, false},
	{"oliver.brown@example.net", "Oliver Brown", "en", "work", "+61 2 9374 4000",
		resguardo.Address{Label: "work", Line1: "1 Macquarie Street", City: "Sydney", Region: "NSW", PostalCode: "2000", Country: "AU"}, false},
}

// demoAccount is one sign-in the demo prints.
type demoAccount struct {
	kind, who, email, password string
	totp                       *auth.TOTPEnrolment
}

// seedDemo fills an empty database with demo customers and one staff
// member of each role and writes their sign-in details to out, once:
// the passwords are random and stored only as hashes, the TOTP secrets
// only sealed. Config.Validate has already refused --demo off loopback.
func seedDemo(ctx context.Context, db *sqlstore.DB, accounts *account.Service, staffSvc *staff.Service, out io.Writer) ([]demoAccount, error) {
	if _, err := db.Conn().Setting(ctx, demoSetting); err == nil {
		_, err := fmt.Fprintln(out, "Demo data is already in this database; its sign-in details were printed when it was made. For new ones, start with an empty --data-dir (or database).")
		return nil, err
	} else if resguardo.ErrorCode(err) != resguardo.ENotFound {
		return nil, err
	}
	customers, err := db.Conn().CountRows(ctx, "customers")
	if err != nil {
		return nil, err
	}
	members, err := db.Conn().CountRows(ctx, "staff")
	if err != nil {
		return nil, err
	}
	if customers > 0 || members > 0 {
		return nil, fmt.Errorf("refusing --demo: this database already holds %d customers and %d staff members; demo accounts go only into an empty database", customers, members)
	}
	var made []demoAccount
	for _, p := range demoPeople {
		password := demoPassword()
		id, err := accounts.CreateDemoCustomer(ctx, account.DemoCustomer{Email: p.email, Name: p.name, Password: password})
		if err != nil {
			return nil, err
		}
		if _, err := accounts.AddPhone(ctx, resguardo.CustomerActor(id), id, p.phoneLabel, p.phone); err != nil {
			return nil, fmt.Errorf("demo phone %s: %w", p.phone, err)
		}
		if _, err := accounts.AddAddress(ctx, resguardo.CustomerActor(id), id, p.address); err != nil {
			return nil, fmt.Errorf("demo address: %w", err)
		}
		a := demoAccount{kind: "customer", who: p.name, email: p.email, password: password}
		if p.totp {
			en, err := accounts.EnableDemoTOTP(ctx, id, p.lang)
			if err != nil {
				return nil, err
			}
			a.totp = &en
		}
		made = append(made, a)
	}
	for _, role := range resguardo.Roles() {
		email := "demo." + string(role) + "@example.com"
		a, err := demoStaff(ctx, staffSvc, email, role)
		if err != nil {
			return nil, err
		}
		made = append(made, a)
	}
	if err := db.Conn().SetSetting(ctx, demoSetting, "1", time.Now().Unix()); err != nil {
		return nil, err
	}
	return made, nil
}

// demoStaff creates a staff member and enrols them as they would through
// their link: password, then TOTP confirmed with the code of the step
// before now (so the code shown now works at sign-in).
func demoStaff(ctx context.Context, svc *staff.Service, email string, role resguardo.Role) (demoAccount, error) {
	inv, err := svc.Create(ctx, email, role, nil)
	if err != nil {
		return demoAccount{}, err
	}
	link, err := url.Parse(inv.Link)
	if err != nil {
		return demoAccount{}, err
	}
	token := link.Query().Get("token")
	password := demoPassword()
	// The demo staff are named by role, so the approvals and the audit
	// trail read as they would with real colleagues.
	name := "Demo " + string(role)
	en, err := svc.EnrolPassword(ctx, token, name, password)
	if err != nil {
		return demoAccount{}, err
	}
	code, err := auth.TOTPCode(en.Secret, time.Now().Add(-auth.TOTPPeriod))
	if err != nil {
		return demoAccount{}, err
	}
	if err := svc.EnrolConfirm(ctx, token, code); err != nil {
		return demoAccount{}, fmt.Errorf("demo staff %s: %w", role, err)
	}
	return demoAccount{kind: "staff", who: string(role), email: email, password: password, totp: &en}, nil
}

// demoPassword is 26 random base32 characters (130 bits), in groups for
// reading aloud or typing.
func demoPassword() string {
	t := rand.Text()
	return t[:6] + "-" + t[6:12] + "-" + t[12:18] + "-" + t[18:24]
}

// printDemo writes the sign-in details, one account per line, for a person
// to read (and for the demo test to parse).
func printDemo(out io.Writer, made []demoAccount, siteURL, staffURL string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\nDemo accounts (shown once; not stored in clear anywhere):\n\n")
	fmt.Fprintf(&b, "Customer site: %s/login   API: %s/api/v1/auth/login\n", siteURL, siteURL)
	fmt.Fprintf(&b, "Staff console: %s/login\n\n", staffURL)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME / ROLE\tE-MAIL\tPASSWORD\tTOTP SECRET")
	for _, a := range made {
		secret := "-"
		if a.totp != nil {
			secret = a.totp.Secret
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.kind, a.who, a.email, a.password, secret)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nFor the accounts with a TOTP secret, add it to an authenticator app (or open the otpauth link):\n")
	for _, a := range made {
		if a.totp != nil {
			fmt.Fprintf(&b, "  %s  %s\n", a.email, a.totp.URI)
		}
	}
	fmt.Fprintln(&b)
	_, err := io.WriteString(out, b.String())
	return err
}
