"""Protocol-native plans: EigenLayer and Symbiotic transactions from an allocation."""
