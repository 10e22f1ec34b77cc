package resguardo

import "testing"

func TestMasking(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{MaskName("María García López"), "María G."},
		{MaskName("Ana"), "Ana"},
		{MaskName("  "), ""},
		{MaskEmail("maria@example.com"), "m•••@example.com"},
		{MaskEmail("ñu@correo.es"), "ñ•••@correo.es"},
		{MaskPhone("+34612345612"), "+34 ••• ••• •12"},
		{MaskPhone("+14155550123"), "+1 ••• ••• ••23"},
		{MaskAddress(Address{Line1: "Calle Mayor 1", City: "Sevilla", PostalCode: "41001", Country: "ES"}), "Sevilla, ES"},
	} {
		if c.got != c.want {
			t.Errorf("masked %q, want %q", c.got, c.want)
		}
	}
}
