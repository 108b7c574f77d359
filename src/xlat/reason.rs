//! Why a packet was dropped. One counter per reason in the dataplane.

macro_rules! drop_reasons {
    ($($(#[$m:meta])* $v:ident => $name:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason { $($(#[$m])* $v,)* }

        impl DropReason {
            pub const ALL: &'static [DropReason] = &[$(DropReason::$v,)*];
            pub const COUNT: usize = DropReason::ALL.len();

            /// Stable snake_case name, used in counters output and metrics.
            pub fn name(self) -> &'static str {
                match self { $(DropReason::$v => $name,)* }
            }

            pub fn index(self) -> usize {
                self as usize
            }
        }
    };
}

drop_reasons! {
    /// First nibble is neither 4 nor 6.
    UnknownVersion => "unknown_version",
    /// Fewer bytes than an IPv4 header.
    Ipv4Truncated => "ipv4_truncated",
    /// IHL below 5 or beyond the packet.
    Ipv4BadIhl => "ipv4_bad_ihl",
    /// Total Length disagrees with the bytes received.
    Ipv4BadLength => "ipv4_bad_length",
    /// RFC 1071 header checksum does not verify.
    Ipv4BadChecksum => "ipv4_bad_checksum",
    /// IPv4 source in 0/8, 127/8, 224/4 or 240/4 (`addr::validity::IPV4_NEVER`).
    Ipv4BadSource => "ipv4_bad_source",
    /// IPv4 destination in 0/8, 127/8, 224/4 or 240/4 (255.255.255.255 included).
    Ipv4BadDestination => "ipv4_bad_destination",
    /// Source not covered by any EAM or the RFC 6052 prefix.
    Ipv4SourceUnmapped => "ipv4_source_unmapped",
    /// Destination not covered by any EAM or the RFC 6052 prefix.
    Ipv4DestinationUnmapped => "ipv4_destination_unmapped",
    /// IPv4 packet whose source maps to an IPv6 address never emitted: ::, ::1,
    /// ff00::/8 or fe80::/10 (`addr::validity::IPV6_NEVER`), e.g. through an EAM or a
    /// prefix that covers them.
    MappedIpv6BadSource => "mapped_ipv6_bad_source",
    /// IPv4 packet whose destination maps to ::, ::1, ff00::/8 or fe80::/10 (an EAM, or
    /// in NAT64 a static BIB entry, that names one).
    MappedIpv6BadDestination => "mapped_ipv6_bad_destination",
    /// TTL would reach zero (ICMPv4 Time Exceeded sent).
    Ipv4TtlExceeded => "ipv4_ttl_exceeded",
    /// Unexpired loose/strict source route option (ICMPv4 3/5 sent).
    Ipv4SourceRoute => "ipv4_source_route",
    /// IPv4 Protocol is an IPv6 extension header number (0, 43, 44, 60), which the IPv6
    /// receiver would parse as that header, or ICMPv6 (58), whose checksum needs a
    /// pseudo-header the IPv4 sender did not include.
    Ipv4BadProtocol => "ipv4_bad_protocol",
    /// DF=1 and too big for the IPv6 side (ICMPv4 Fragmentation Needed sent).
    Ipv4FragmentationNeeded => "ipv4_fragmentation_needed",
    /// Fewer bytes than an IPv6 header.
    Ipv6Truncated => "ipv6_truncated",
    /// Payload Length disagrees with the bytes received.
    Ipv6BadLength => "ipv6_bad_length",
    /// Extension header chain truncated or malformed.
    Ipv6BadExtensionHeader => "ipv6_bad_extension_header",
    /// Next Header 1 (ICMPv4) in IPv6: it would become an ICMPv4 message whose checksum
    /// was never computed as one.
    Ipv6BadProtocol => "ipv6_bad_protocol",
    /// Routing header with Segments Left ≠ 0 (ICMPv6 Parameter Problem sent).
    Ipv6RoutingHeader => "ipv6_routing_header",
    /// Source ::, ::1, multicast or link-local.
    Ipv6BadSource => "ipv6_bad_source",
    /// Destination ::, ::1, multicast or link-local.
    Ipv6BadDestination => "ipv6_bad_destination",
    /// Source not covered by any EAM or the RFC 6052 prefix.
    Ipv6SourceUnmapped => "ipv6_source_unmapped",
    /// Destination not covered by any EAM or the RFC 6052 prefix.
    Ipv6DestinationUnmapped => "ipv6_destination_unmapped",
    /// IPv6 packet whose source maps to an IPv4 address never emitted: 0/8, 127/8,
    /// 224/4 or 240/4 (`addr::validity::IPV4_NEVER`), whatever mapped it (RFC 6052
    /// prefix, EAM, the RFC 6791 pool, NAT64 pool4).
    MappedIpv4BadSource => "mapped_ipv4_bad_source",
    /// IPv6 packet to an address that embeds (RFC 6052) or maps (EAM) to an IPv4
    /// destination in 0/8, 127/8, 224/4 or 240/4, e.g. pool6 ∘ 255.255.255.255.
    MappedIpv4BadDestination => "mapped_ipv4_bad_destination",
    /// Hop Limit would reach zero (ICMPv6 Time Exceeded sent).
    Ipv6HopLimitExceeded => "ipv6_hop_limit_exceeded",
    /// Too big for the IPv4 side (ICMPv6 Packet Too Big sent).
    Ipv6PacketTooBig => "ipv6_packet_too_big",
    /// TCP, UDP or ICMP header shorter than its minimum.
    TransportTruncated => "transport_truncated",
    /// IPv4 UDP with checksum 0 and `amend-udp-checksum-zero` off, or fragmented.
    UdpChecksumZero => "udp_checksum_zero",
    /// ICMP type/code RFC 7915 says to drop (IGMP, MLD, ND, redirect, timestamp, ...).
    IcmpUntranslatable => "icmp_untranslatable",
    /// ICMP error whose inner packet is itself an ICMP error.
    IcmpErrorInError => "icmp_error_in_error",
    /// ICMP error whose inner packet cannot be translated.
    IcmpInnerUntranslatable => "icmp_inner_untranslatable",
    /// ICMP error quoting a packet with an address the translator never translates or
    /// emits, before or after mapping (either family's `addr::validity` table): no such
    /// packet went through it, so the error is about no flow of ours.
    IcmpInnerBadAddress => "icmp_inner_bad_address",
    /// Fragmented ICMP (checksum cannot be fixed without reassembly).
    IcmpFragmented => "icmp_fragmented",
    /// Offload metadata (virtio-net header) the translator cannot handle.
    OffloadUnsupported => "offload_unsupported",
    /// GSO super-packet whose segments would have to be fragmented after translation
    /// (UDP datagrams too big for the next hop with DF=0); not split in software.
    OffloadNeedsFragmentation => "offload_needs_fragmentation",
    /// GSO super-packet that would exceed 65535 bytes after translation.
    OffloadTooLong => "offload_too_long",
    /// The translated result does not fit the output (too many fragments).
    OutputOverflow => "output_overflow",
    /// Fragmenting would need more frames than an output holds, or a fragment offset
    /// past the 13-bit field (the datagram would exceed 65535 bytes).
    FragmentOverflow => "fragment_overflow",
    /// NAT64: an IPv4 SYN without a mapping, held for a simultaneous open (RFC 6146
    /// §3.5.2.2). Not lost: the caller keeps the packet until the IPv6 SYN releases it
    /// (`Nat64Verdict::release_held`) or the hold expires (ICMP port unreachable).
    Nat64HeldSyn => "nat64_held_syn",
    /// NAT64: TCP segment other than SYN with no session (RFC 6146 §3.5.2.2).
    Nat64NoSession => "nat64_no_session",
    /// NAT64: IPv4 packet to a pool4 transport address without a binding.
    Nat64NoMapping => "nat64_no_mapping",
    /// NAT64: refused by filtering (address-dependent filtering, or IPv4-initiated TCP
    /// refused by policy).
    Nat64Filtered => "nat64_filtered",
    /// NAT64: the shard's session table is full.
    Nat64TableFull => "nat64_table_full",
    /// NAT64: per-address or per-prefix session quota reached, or too many subscribers.
    Nat64SubscriberLimit => "nat64_subscriber_limit",
    /// NAT64: no free pool4 port in this worker's slice.
    Nat64PoolExhausted => "nat64_pool_exhausted",
    /// NAT64: too many IPv4 SYNs held for simultaneous open already.
    Nat64HeldTableFull => "nat64_held_table_full",
    /// NAT64: a fragment reached the translator without reassembly (never expected: the
    /// worker reassembles every fragment first).
    Nat64Fragment => "nat64_fragment",
    /// NAT64 reassembly: zero-length fragment, a non-last fragment whose length is not a
    /// multiple of 8, data past 65 535 bytes, or two different ends of one datagram.
    FragmentBadLength => "fragment_bad_length",
    /// NAT64 reassembly: a first fragment without the whole transport header (RFC 7112,
    /// RFC 1858).
    FragmentTinyFirst => "fragment_tiny_first",
    /// NAT64 reassembly: fragments overlap (RFC 5722, RFC 8200 §4.5): the whole datagram
    /// is dropped, and its later fragments until its timeout.
    FragmentOverlap => "fragment_overlap",
    /// NAT64 reassembly: an exact copy of a fragment already held (dropped alone).
    FragmentDuplicate => "fragment_duplicate",
    /// NAT64 reassembly: more fragments than one datagram may have.
    FragmentTooMany => "fragment_too_many",
    /// NAT64 reassembly: a fragment larger than the device MTU.
    FragmentTooBig => "fragment_too_big",
    /// NAT64 reassembly: `max-fragments` fragments were held, and these (the oldest
    /// datagram of all) gave way for a newer one.
    FragmentLimit => "fragment_limit",
    /// NAT64 reassembly: the source (IPv6 subscriber prefix, IPv4 address) held its
    /// share of `max-fragments`, and these (its oldest datagram) gave way for a newer
    /// one; or one datagram alone would exceed the share.
    FragmentSourceLimit => "fragment_source_limit",
    /// NAT64 reassembly: the datagram did not complete within `fragment-timeout`.
    FragmentTimeout => "fragment_timeout",
    /// NAT64: neither TCP, UDP nor ICMP echo (RFC 6146 §3.1 keeps state for those only).
    Nat64UnsupportedProtocol => "nat64_unsupported_protocol",
    /// NAT64: IPv6 source inside pool6 (RFC 6146 §3.5: silently discarded).
    Nat64SourceInPool6 => "nat64_source_in_pool6",
    /// NAT64 with several workers: the ring to the worker owning the packet's flow was
    /// full (that worker is overloaded); the packet is dropped rather than waited for.
    Nat64HandoffFull => "nat64_handoff_full",
    /// NAT64 with several workers: the packet's source (subscriber prefix or IPv4
    /// address) holds its share (a quarter) of the ring to the owner already: a flood
    /// from one source is cut there, so that it cannot push other sources' packets out.
    Nat64HandoffShare => "nat64_handoff_share",
}
